"""Benchmarks on real code nobody here wrote: quality, typing replay, latency, predictor."""
