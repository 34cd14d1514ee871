"""Social sign-in with OpenID Connect: providers from settings, the protocol client, and
the two HTTP endpoints a browser passes through (`routes`)."""
