"""The event path: outbox (write side), relay (outbox → Kafka), consumer runner (Kafka → handlers)."""
