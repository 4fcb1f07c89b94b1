"""The Kafka transport: topics, the outbox relay that publishes to them, and their settings."""
