"""Benchmark cases: every module here is imported and its @register classes run.

See bench/README.md for how to add one.
"""
