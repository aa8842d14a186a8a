"""Canary rollouts: shift an endpoint's traffic to a new version step by step,
watch its error rate, and roll back or write PRODUCTION through (engine.py).

A point-in-time rollback (rollback.py) lives here too: it opens promotion
requests (governance) and carries the traffic splits to restore (restore.py),
so it sits above both rather than making governance import rollouts."""
