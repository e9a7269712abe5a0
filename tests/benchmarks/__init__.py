"""Throughput benchmark (`make bench`): a deterministic ANAC-like OCDS generator and the bench."""
