"""Detectors: pure functions of a history and options returning findings."""
