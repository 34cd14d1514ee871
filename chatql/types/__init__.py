"""GraphQL types. They map records to the API and resolve relations through services."""
