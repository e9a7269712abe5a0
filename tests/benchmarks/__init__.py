"""Throughput benchmark (`make bench`): the entry point is `bench`; see its docstring."""
