"""Counted nouns ("1 test", "2 tests") for every message the package prints: the plugin's
closing lines, ``otel-pytest push`` and the analyzer's reports say them the same way."""

from __future__ import annotations


def plural(count: int, word: str, words: str = "") -> str:
    """``1 run``, ``2 runs``, ``1,804 spans``, ``3 retries`` (``words``: an irregular plural)."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"
