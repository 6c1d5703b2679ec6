"""Benchmark workloads: every module here registers its workloads when imported."""
