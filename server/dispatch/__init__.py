"""Dispatch operations: optimisation runs, emergency insertion, recommendations, the pool."""
