"""ChatQL: a real-time chat backend that speaks GraphQL."""

__version__ = "0.1.0"
