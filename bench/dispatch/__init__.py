"""Dispatcher benchmarks: Solomon VRPTW, field scenarios, emergency insertion, time limits."""
