"""Metrics (`metrics`, `endpoint`, `listener`), logs (`logs`), traces (`tracing`), and where they
hook in: the outermost ASGI layer (`middleware`), GraphQL operations (`operations`), store calls
(`store_calls`), the live path's lock-free counters (`live_stats`) and the event loop's lag
(`loop_lag`)."""
