"""The one place that says who may see and do what, for pages, sockets and actions alike.

Hiding a button is courtesy; these checks are the rule.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet

from accounts.profiles import profile_of
from stations.models import Station


class Action(StrEnum):
    CHANGE_STATE = "change_state"
    REPLACE_STATE = "replace_state"
    FORCE_AUTO = "force_auto"
    RESET_PARTS = "reset_parts"


#: The permission each action needs (codenames on ``accounts.Profile``).
PERMISSIONS = {
    Action.CHANGE_STATE: "accounts.change_station_state",
    Action.REPLACE_STATE: "accounts.replace_station_state",
    Action.FORCE_AUTO: "accounts.force_auto_state",
    Action.RESET_PARTS: "accounts.reset_part_count",
}


def visible_stations(user: Any) -> QuerySet[Station]:
    """The stations ``user`` may see: none for anonymous users, all unless limited."""
    stations = Station.objects.all()
    if not getattr(user, "is_authenticated", False):
        return stations.none()
    if user.is_superuser:
        return stations
    profile = profile_of(user)
    workshops = list(profile.workshops or [])
    chosen = list(profile.stations.values_list("pk", flat=True)) if profile.pk else []
    if not workshops and not chosen:
        return stations
    return stations.filter(Q(workshop__in=workshops) | Q(pk__in=chosen))


def can_see_station(user: Any, station: Station) -> bool:
    return visible_stations(user).filter(pk=station.pk).exists()


def can_act(user: Any, action: Action, station: Station) -> bool:
    """Kiosk screens are never users, so they can never act."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.has_perm(PERMISSIONS[action]) and can_see_station(user, station)


def cwork_key_for(user: Any) -> str | None:
    """The user's own CWork API key, or None for the service key."""
    if not getattr(user, "is_authenticated", False):
        return None
    return profile_of(user).cwork_api_key or None
