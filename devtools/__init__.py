"""Helpers for the tests and benchmarks that run the project's processes; not part of the app."""
