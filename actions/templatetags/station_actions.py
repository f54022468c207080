"""``{% station_action_panel station as panel %}``: the action panel's context for a page."""

from __future__ import annotations

from django import template

from actions.views import panel_context

register = template.Library()


@register.simple_tag(takes_context=True)
def station_action_panel(context, station):
    request = context.get("request")
    if request is None or station is None:
        return {"any": False}
    return panel_context(request, station)
