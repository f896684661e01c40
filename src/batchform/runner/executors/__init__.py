"""Executors: the ways a plan's instances run (local processes, Ray actors)."""
