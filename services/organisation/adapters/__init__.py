"""The organisation's own PostgreSQL tables and connections, beside the runtime's event store."""
