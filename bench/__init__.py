"""Swabline's benchmark harness, run by `make bench` (never part of `make test`).

See bench/README.md for how it works and how to add a case.
"""
