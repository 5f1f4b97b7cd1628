"""Performance scenarios of the whole system, each measured against the raw infrastructure.

Run ``bench/run`` (see bench/README.md). Not part of the test suite.
"""
