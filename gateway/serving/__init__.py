"""Serving state (what serves what), the stage history and reported deployments."""
