"""Colours as drawn and read: CWork's state colours, and the text colour that stays legible on
each (WCAG 2 contrast).

CWork gives each state a colour, sometimes malformed or missing; pages draw what
:func:`state_color` returns and write on it in :func:`readable_text_color`, which always
reaches AA (4.5:1).
"""

from __future__ import annotations

#: What a state without a usable colour is drawn in: a dark grey, white text on it reads at 7.56:1.
NEUTRAL = "#4b5563"


def parse_hex(color: str) -> tuple[int, int, int] | None:
    """``#rrggbb`` or ``#rgb`` as 0-255 channels; None for anything else ("", "red")."""
    text = color.strip().lstrip("#") if color.strip().startswith("#") else ""
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    if len(text) != 6:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def state_color(color: str | None) -> str:
    """A state's colour as drawn: CWork's ``#rrggbb`` as given (``#rgb`` spelt out), or
    :data:`NEUTRAL` when missing or malformed, so the text colour suits what is shown."""
    rgb = parse_hex(color or "")
    if rgb is None:
        return NEUTRAL
    text = (color or "").strip()
    return text if len(text) == 7 else "#{:02x}{:02x}{:02x}".format(*rgb)


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb`` (0 black, 1 white); malformed is NEUTRAL."""
    rgb = parse_hex(color) or parse_hex(NEUTRAL)
    assert rgb is not None

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two colours, 1 to 21 (AA asks 4.5 for text)."""
    a, b = relative_luminance(foreground), relative_luminance(background)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def readable_text_color(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``. One of the two always
    reaches 4.58:1 (the worst case is a mid grey), so the text on any state colour meets AA.
    A malformed colour is read as what the pages draw instead (:func:`state_color`)."""
    background = state_color(background)
    on_black, on_white = (
        contrast_ratio("#000000", background),
        contrast_ratio("#ffffff", background),
    )
    return "#000000" if on_black > on_white else "#ffffff"
