"""The projection's stores and configuration files: PostgreSQL tables, TOML rules."""
