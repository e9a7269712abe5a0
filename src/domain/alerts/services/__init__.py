"""Alert services: watches, the outbox, matching, deliveries (import the modules)."""
