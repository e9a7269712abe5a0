"""The application layer: an ingest request, enqueueing it, running it in batches."""
