"""Domain rules, one module per concept. Services never import Strawberry."""
