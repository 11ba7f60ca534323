"""Benchmarks: each module offers a function returning rows and a __main__."""
