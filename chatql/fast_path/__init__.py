"""Answers that skip the general machinery when a request allows it: plain GraphQL POSTs taken
in the server's HTTP protocol, compiled root fields and projections, shareable operations, and
cached history answers. Each falls back to the ordinary path for anything unusual."""
