"""Simulated southbound services for tests and `make run`."""
