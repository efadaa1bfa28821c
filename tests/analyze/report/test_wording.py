"""The words and numbers every human-facing report shares, and what makes text safe to show."""

from __future__ import annotations

import pytest

from otel_pytest.analyze.report.wording import visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),  # clear screen
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # window title
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\x85", "\\x85"),  # C1 next line
        ("a\rb", "a\\rb"),
        ("\x00\x08\x0b\x0c\x7f", "\\x00\\x08\\x0b\\x0c\\x7f"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),  # right-to-left override, pop
        ("\u2066\u2069\u061c\u200f\u200b\ufeff", "\\u2066\\u2069\\u061c\\u200f\\u200b\\ufeff"),
        ("\u2028", "\\u2028"),
        ("\udcff", "\\udcff"),  # a byte of a file name that is not UTF-8
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("café ü 🔴 \u00d7 µs \u00a0%", "café ü 🔴 \u00d7 µs \u00a0%"),
        ("already \\x1b escaped", "already \\x1b escaped"),
    ],
)
def test_characters_that_act_are_shown_as_their_escapes(raw: str, shown: str) -> None:
    assert visible(raw) == shown
