"""The live path: the store's change feed, the hub that routes its events to subscriptions,
the fan-out groups that answer one event for many sockets, and the WebSocket transport that
writes their frames."""
