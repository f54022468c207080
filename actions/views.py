"""The station page's action panel: change or replace the state, force auto, reset parts.

POST only, with CSRF (the view is ``dashboard.station_views.act``). HTMX swaps the panel with
the result next to the control used; without JavaScript the whole station page comes back
with the same panel. Every form carries a fresh idempotency key, so a double tap (or a reload
re-posting the form) sends once. Showing the panel only to those who may act is courtesy:
``actions.services.perform`` is the rule.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Action, can_act
from actions import services
from actions.forms import COMMENT_MAX_LENGTH, PART_COUNT_MAX
from audit.models import Outcome
from stations.models import LiveStatus, State, Station, Top

#: How far back "most used reasons" looks, and how many it offers first.
MOST_USED_DAYS = 30
MOST_USED_COUNT = 6

#: The values each action's form posts.
FIELDS = {
    Action.CHANGE_STATE: ("state", "comment"),
    Action.REPLACE_STATE: ("state", "comment"),
    Action.FORCE_AUTO: (),
    Action.RESET_PARTS: ("part_count", "confirm"),
}

#: Posted by the "Change the number" button of the part-count question: back to the count's
#: field with the number typed, nothing checked, sent or audited.
EDIT_COUNT = "edit_count"


#: The two state forms share one template: the action and its title (and button).
STATE_FORMS = {
    Action.CHANGE_STATE: _("Change state"),
    Action.REPLACE_STATE: _("Replace current state"),
}


def reason_tree(station: Station, now=None) -> dict[str, Any]:
    """The reasons offered: this station's most used first, then parents with children."""
    now = now or timezone.now()
    live = State.objects.filter(archived=False)
    children = Prefetch("children", queryset=live.order_by("name"), to_attr="live_children")
    top_level = live.filter(Q(parent=None) | Q(parent__archived=True))
    parents = list(top_level.order_by("cwork_id").prefetch_related(children))
    used = (
        Top.objects.filter(
            station=station,
            start__gte=now - timedelta(days=MOST_USED_DAYS),
            state__archived=False,
        )
        .values("state")
        .annotate(uses=Count("pk"))
        .order_by("-uses", "state")[:MOST_USED_COUNT]
    )
    by_pk = {state.pk: state for state in live.filter(pk__in=[row["state"] for row in used])}
    most_used = [by_pk[row["state"]] for row in used if row["state"] in by_pk]
    return {"most_used": most_used, "parents": parents}


def panel_context(
    request: HttpRequest,
    station: Station,
    *,
    action: Action | None = None,
    result: services.ActionResult | None = None,
    data: Any = None,
    editing: bool = False,
) -> dict[str, Any]:
    """What ``stations/_actions.html`` renders: allowed actions, reasons, fresh keys.
    ``editing``: the part count's form again, with the number typed (``data``), to change it."""
    user = request.user
    allowed = {a.value: can_act(user, a, station) for a in Action}
    panel: dict[str, Any] = {
        "station": station,
        "can": allowed,
        "any": any(allowed.values()),
        "keys": {a.value: uuid.uuid4().hex for a in Action},
        "action": action.value if action else "",
        "result": result,
        "errors": dict(result.errors) if result else {},
        "values": {},
        "editing": editing,
        "comment_max": COMMENT_MAX_LENGTH,
        "part_count_max": PART_COUNT_MAX,
    }
    if not panel["any"]:
        return panel
    if action and data is not None and (editing or (result and result.outcome == Outcome.INVALID)):
        panel["values"] = {name: data.get(name, "") for name in FIELDS[action]}
    panel["state_forms"] = [
        (a.value, title) for a, title in STATE_FORMS.items() if allowed[a.value]
    ]
    if panel["state_forms"]:
        panel.update(reason_tree(station))
    live = LiveStatus.objects.filter(station=station).first()
    panel["current_state"] = live.state if live else None
    panel["part_count"] = _current_count(live)
    panel["part_target"] = live.part_target if live else None
    return panel


def _current_count(live: LiveStatus | None) -> int | None:
    if live is None:
        return None
    return live.parts_since_reset if live.parts_since_reset is not None else live.total_parts


def perform_posted(request: HttpRequest, pk: int, action: str) -> tuple[Station, dict[str, Any]]:
    """Send the action a form posted for one station; the station and the panel to show with
    its result. 404 for an unknown action or station, 403 for anyone who may not do it."""
    try:
        chosen = Action(action)
    except ValueError:
        raise Http404("no such action") from None
    station = get_object_or_404(Station, pk=pk)
    if not request.user.is_authenticated:  # anonymous users and kiosk screens
        raise PermissionDenied
    data = request.POST
    if chosen == Action.RESET_PARTS and data.get(EDIT_COUNT):
        if not can_act(request.user, chosen, station):
            raise PermissionDenied
        return station, panel_context(request, station, action=chosen, data=data, editing=True)
    key = _key(data.get("idempotency_key"))
    values = {name: data.get(name) for name in FIELDS[chosen] if data.get(name) is not None}
    result = services.perform(request.user, station, chosen, values, key)
    if result.outcome == Outcome.FORBIDDEN:
        raise PermissionDenied
    if result.outcome in (Outcome.OK, Outcome.UNKNOWN):
        station.refresh_from_db()
    return station, panel_context(request, station, action=chosen, result=result, data=data)


def _key(raw: str | None) -> str:
    """The form's key if it is one of ours (a UUID); otherwise a new one, so a form without
    a key still sends once per submit rather than colliding with someone else's."""
    try:
        return uuid.UUID(str(raw or "")).hex
    except ValueError:
        return uuid.uuid4().hex
