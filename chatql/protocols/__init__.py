"""Transports in front of the one GraphQL execution.

Each module here speaks one wire protocol and nothing else: it authenticates the caller, runs
the operation through the application's schema (so the same limits, error masking and
resolvers with their per-event authorisation apply) and frames the results its own way. Below
the transport, nothing knows which one a subscriber used.
"""
