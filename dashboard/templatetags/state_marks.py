"""The marks (icon, pattern, name) that say a state's bucket without colour: see
static/dashboard/marks.css and kpis.mapping."""

from __future__ import annotations

from dataclasses import dataclass

from django import template
from django.utils.functional import Promise

from core.colours import state_color as _state_color
from kpis.mapping import NO_DATA_LABEL, NO_STATE, mark_label

register = template.Library()


@dataclass(frozen=True, slots=True)
class Mark:
    #: ``mark-<key>`` and ``pat-<key>`` in marks.css.
    key: str
    label: Promise


@register.simple_tag
def state_mark(mark: str, known: bool = True) -> Mark:
    """A stretch of today's timeline or a total's mark (its bucket, found by its state's id)
    with its name; ``known`` False is a stretch without data."""
    if not known:
        return Mark(NO_STATE, NO_DATA_LABEL)
    return Mark(mark, mark_label(mark))


@register.filter
def state_color(color: str) -> str:
    """The colour as drawn: a malformed one is the neutral grey its text colour was chosen
    for."""
    return _state_color(color)
