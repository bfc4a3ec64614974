"""Benchmark harness of the broker (issue 5): `python -m bench.run`.

Lives apart from the tests: it measures, writes result files under
bench/results/, and never decides whether anything passes.
"""
