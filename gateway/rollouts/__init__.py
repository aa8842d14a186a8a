"""Canary rollouts: shift an endpoint's traffic to a new version step by step,
watch its error rate, and roll back or write PRODUCTION through (engine.py)."""
