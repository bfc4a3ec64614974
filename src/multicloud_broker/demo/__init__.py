"""Demonstrations users can run against a broker (`multicloud-broker demo ...`)."""
