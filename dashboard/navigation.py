"""The product's one navigation: every page a signed-in user may open, from any page.

``ENTRIES`` is the only list of them, each with what its view requires, so a link is shown
exactly to those its page lets in. Kiosk screens and anonymous readers get no navigation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: ``Entry.permission`` for the pages of staff members (kiosk screens, the admin).
STAFF = "staff"


@dataclass(frozen=True, slots=True)
class Entry:
    url_name: str
    label: str | Promise
    #: What the entry's view requires: "" any signed-in user, ``STAFF``, or a permission.
    permission: str = ""
    #: The views (``namespace:`` for all of one app's) that count as this entry's pages.
    sections: tuple[str, ...] = ()
    #: Shown in the account menu (with "Log out") rather than in the bar.
    account: bool = False

    def allowed(self, user: Any) -> bool:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        if self.permission == STAFF:
            return bool(user.is_staff)
        return not self.permission or user.has_perm(self.permission)

    def is_current(self, view_name: str) -> bool:
        sections = self.sections or (self.url_name,)
        return any(view_name.startswith(s) if s.endswith(":") else view_name == s for s in sections)


ENTRIES: tuple[Entry, ...] = (
    Entry("wall", _("Wall"), sections=("wall", "home")),
    Entry("stations:overview", _("Stations"), sections=("stations:",)),
    Entry("kpis:review", _("Shift review"), "accounts.view_reviews", ("kpis:",)),
    Entry("reports:subscriptions", _("Shift reports"), "accounts.view_reviews", ("reports:",)),
    Entry("alerts:rules", _("Alerts"), "accounts.manage_alerts", ("alerts:",)),
    Entry("audit:list", _("Audit trail"), "accounts.view_audit", ("audit:",)),
    Entry("screens:list", _("Screens"), STAFF, ("screens:",)),
    Entry("admin:index", _("Administration"), STAFF, ("admin:",)),
    Entry("preferences", _("Preferences"), account=True),
)


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    label: str | Promise
    current: bool
    name: str


@dataclass(frozen=True, slots=True)
class Navigation:
    """What ``_navigation.html`` draws; ``links`` empty means no navigation at all."""

    links: tuple[Link, ...] = ()
    account: tuple[Link, ...] = ()
    username: str = ""
    #: False where the logout form could not carry its CSRF token (the static 500 page).
    can_log_out: bool = True

    def __bool__(self) -> bool:
        return bool(self.links)


def navigation_for(user: Any, view_name: str = "", *, can_log_out: bool = True) -> Navigation:
    """The entries ``user`` may open, the one of the page being shown marked current."""
    if not getattr(user, "is_authenticated", False):
        return Navigation()
    shown = [
        (entry, Link(reverse(name), entry.label, entry.is_current(view_name), name))
        for entry in ENTRIES
        if entry.allowed(user) and (name := entry.url_name)
    ]
    return Navigation(
        links=tuple(link for entry, link in shown if not entry.account),
        account=tuple(link for entry, link in shown if entry.account),
        username=user.get_username(),
        can_log_out=can_log_out,
    )


def view_name_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else ""


def navigation(request: HttpRequest) -> dict[str, Callable[[], Navigation]]:
    """A context processor; lazy (a template calls it), so pages that draw no navigation,
    such as fragments and kiosk walls, cost nothing."""
    return {"navigation": lambda: navigation_for(request.user, view_name_of(request))}
