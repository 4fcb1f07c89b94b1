"""The projection's HTTP API: one router per resource, thin over the service layer."""
