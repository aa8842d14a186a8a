"""Serving state: endpoints, their traffic, and the stage history."""
