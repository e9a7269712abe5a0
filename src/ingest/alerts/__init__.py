"""Alert delivery: the dispatcher that turns outbox events into webhook POSTs and email
digests, the senders, the signature, and the wake-up an ingest sends after each batch that
wrote events (import the modules)."""
