"""The organisation service's HTTP API (v1): thin routers over the service layer."""
