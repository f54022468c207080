"""The roles: Django groups made by migration ``0002_roles``, with their permissions.

Groups keep their English names (a migration cannot translate); ``ROLES`` gives the label
each one shows in the interface.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

OPERATOR_PERMISSIONS = ("change_station_state",)
SUPERVISOR_PERMISSIONS = (
    *OPERATOR_PERMISSIONS,
    "replace_station_state",
    "force_auto_state",
    "reset_part_count",
    "view_audit",
)
MANAGER_PERMISSIONS = ("view_reviews", "view_audit", "manage_alerts")
ADMINISTRATOR_PERMISSIONS = (
    *SUPERVISOR_PERMISSIONS,
    "view_reviews",
    "manage_alerts",
)

#: Group name -> the codenames (on ``accounts.Profile``) it grants. Viewers see the wall and
#: the station pages, which every logged-in user may: they need no permission.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "Viewer": (),
    "Operator": OPERATOR_PERMISSIONS,
    "Supervisor": SUPERVISOR_PERMISSIONS,
    "Manager": MANAGER_PERMISSIONS,
    "Administrator": tuple(dict.fromkeys(ADMINISTRATOR_PERMISSIONS)),
}

#: Group name -> its label in the interface.
ROLES = {
    "Viewer": _("Viewer"),
    "Operator": _("Operator"),
    "Supervisor": _("Supervisor"),
    "Manager": _("Manager"),
    "Administrator": _("Administrator"),
}
