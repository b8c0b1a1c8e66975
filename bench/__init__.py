"""Benchmarks: the harness, its workloads and the codec micro-benchmark."""
