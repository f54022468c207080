"""What every CSV and .xlsx export shares."""

from __future__ import annotations

#: First characters a spreadsheet reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Text from CWork or a user, never run as a formula when the file is opened."""
    return f"'{text}" if text[:1] in FORMULA_STARTS else text
