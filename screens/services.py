"""What can happen to a kiosk screen, as plain functions (no HTTP needed to call or test them).

A screen is created with a one-time enrolment token, shown once as a link. Opening the link on
the TV and confirming consumes the token and gives the TV a long-lived device cookie; the
wall and its socket recognise the screen by that cookie. Revoking clears both secrets and
cuts the screen's open sockets. Commands (identify, reload, revoked) reach a screen's open
sockets through its channel-layer group (``core.realtime``); the wall's consumer handles them.
A command that cannot be sent is logged, never raised: what was saved (a revocation) stands.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.http import HttpRequest
from django.utils import timezone

from core import realtime
from screens.models import DEFAULT_ROTATION_SECONDS, FILTER_FIELDS, Screen

#: The cookie an enrolled screen carries: its device secret.
DEVICE_COOKIE = "screen_device"
#: How long the cookie lives in the browser; revoking is how a screen is stopped.
DEVICE_COOKIE_MAX_AGE = 5 * 365 * 24 * 3600
#: How long an enrolment link works, if nobody uses it.
ENROLMENT_VALIDITY = timedelta(days=7)

# Tokens and secrets are 43 characters; anything much longer is not one of ours.
_MAX_SECRET_LENGTH = 128


class EnrolmentError(Exception):
    """The enrolment link cannot be used; ``gone`` when it did work once (expired, revoked)."""

    gone = False


class InvalidToken(EnrolmentError):
    """Unknown: never issued, already used, or replaced by a newer link."""


class ExpiredToken(EnrolmentError):
    gone = True


class ScreenRevoked(EnrolmentError):
    gone = True


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)
    return secret, _hash(secret)


def _clean_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    filters = filters or {}
    return {name: str(filters.get(name) or "").strip() for name in FILTER_FIELDS}


def create_screen(
    name: str,
    filters: Mapping[str, str] | None = None,
    rotation_seconds: int = DEFAULT_ROTATION_SECONDS,
    user: Any = None,
    *,
    language: str = "",
    now: datetime | None = None,
) -> tuple[Screen, str]:
    """A new screen and its enrolment token (to be shown once: only its hash is kept).

    Raises ``django.core.exceptions.ValidationError`` for a name already taken, a rotation
    under the minimum, an unknown language.
    """
    now = now or timezone.now()
    token, token_hash = _new_secret()
    screen = Screen(
        name=name.strip(),
        **_clean_filters(filters),
        rotation_seconds=rotation_seconds,
        language=language,
        created_by=user if user is not None and user.is_authenticated else None,
        created_at=now,
        enrolment_token_hash=token_hash,
        enrolment_expires_at=now + ENROLMENT_VALIDITY,
    )
    screen.full_clean()
    screen.save()
    return screen, token


def new_enrolment_link(screen: Screen, *, now: datetime | None = None) -> str:
    """A new one-time token for ``screen``; any earlier unused token stops working.

    The device enrolled now (if any) keeps working until the link is used or it is revoked.
    """
    if screen.revoked_at is not None:
        raise ScreenRevoked(screen.name)
    now = now or timezone.now()
    token, token_hash = _new_secret()
    screen.enrolment_token_hash = token_hash
    screen.enrolment_expires_at = now + ENROLMENT_VALIDITY
    screen.save(update_fields=["enrolment_token_hash", "enrolment_expires_at"])
    return token


def enrolment_screen(token: str, *, now: datetime | None = None) -> Screen:
    """The screen ``token`` would enrol, without using it up; raises ``EnrolmentError``."""
    if not token or len(token) > _MAX_SECRET_LENGTH:
        raise InvalidToken
    screen = Screen.objects.filter(enrolment_token_hash=_hash(token)).first()
    if screen is None:
        raise InvalidToken
    if screen.revoked_at is not None:
        raise ScreenRevoked(screen.name)
    now = now or timezone.now()
    if screen.enrolment_expires_at is None or screen.enrolment_expires_at <= now:
        raise ExpiredToken(screen.name)
    return screen


def enrol(token: str, *, now: datetime | None = None) -> tuple[Screen, str]:
    """Use up ``token``: the screen and its new device secret (for the device's cookie).

    Raises ``EnrolmentError``. Exactly one of two simultaneous uses of one token succeeds. A
    device enrolled earlier on the same screen is replaced: its cookie stops working and its
    open sockets are cut.
    """
    now = now or timezone.now()
    screen = enrolment_screen(token, now=now)
    replaced = bool(screen.device_secret_hash)
    secret, secret_hash = _new_secret()
    used = Screen.objects.filter(
        pk=screen.pk,
        enrolment_token_hash=_hash(token),
        revoked_at=None,
        enrolment_expires_at__gt=now,
    ).update(
        enrolment_token_hash="",
        enrolment_expires_at=None,
        device_secret_hash=secret_hash,
        enrolled_at=now,
    )
    if not used:
        raise InvalidToken
    if replaced:
        realtime.send(realtime.screen_group(screen.pk), realtime.screen_revoked())
    screen.refresh_from_db()
    return screen, secret


def screen_for_device(secret: str | None) -> Screen | None:
    """The enrolled, unrevoked screen whose device carries ``secret``, or None.

    The lookup is by the secret's SHA-256, never by the secret: its time says nothing useful
    about a 256-bit secret, and the secret itself is never compared or stored.
    """
    if not secret or len(secret) > _MAX_SECRET_LENGTH:
        return None
    return Screen.objects.filter(device_secret_hash=_hash(secret), revoked_at=None).first()


def screen_from_scope(scope: Mapping[str, Any]) -> Screen | None:
    """The screen a WebSocket comes from (Channels' CookieMiddleware fills ``cookies``)."""
    cookies = scope.get("cookies") or {}
    return screen_for_device(cookies.get(DEVICE_COOKIE))


def screen_from_request(request: HttpRequest) -> Screen | None:
    return screen_for_device(request.COOKIES.get(DEVICE_COOKIE))


def revoke(screen: Screen, *, now: datetime | None = None) -> None:
    """Stop ``screen`` at once: no cookie or link works for it again, open sockets are cut."""
    screen.revoked_at = screen.revoked_at or now or timezone.now()
    screen.enrolment_token_hash = ""
    screen.enrolment_expires_at = None
    screen.device_secret_hash = ""
    screen.save(
        update_fields=[
            "revoked_at",
            "enrolment_token_hash",
            "enrolment_expires_at",
            "device_secret_hash",
        ]
    )
    realtime.send(realtime.screen_group(screen.pk), realtime.screen_revoked())


def delete_screen(screen: Screen) -> None:
    """Forget ``screen`` (its name becomes free again), cutting its open sockets first."""
    screen_id = screen.pk
    screen.delete()
    realtime.send(realtime.screen_group(screen_id), realtime.screen_revoked())


def identify(screen: Screen) -> bool:
    """Ask the screen's open pages to show its name large, to tell which TV is which."""
    return realtime.send(realtime.screen_group(screen.pk), realtime.screen_identify(screen.name))


def reload(screen: Screen) -> bool:
    """Ask the screen's open pages to load themselves again (after a change of settings)."""
    return realtime.send(realtime.screen_group(screen.pk), realtime.screen_reload())


def socket_opened(screen_id: int, *, now: datetime | None = None) -> None:
    Screen.objects.filter(pk=screen_id).update(
        connected_sockets=F("connected_sockets") + 1, last_seen_at=now or timezone.now()
    )


def socket_closed(screen_id: int, *, now: datetime | None = None) -> None:
    Screen.objects.filter(pk=screen_id).update(
        connected_sockets=Greatest(F("connected_sockets") - 1, Value(0)),
        last_seen_at=now or timezone.now(),
    )


def touch(screen_id: int, *, now: datetime | None = None) -> None:
    Screen.objects.filter(pk=screen_id).update(last_seen_at=now or timezone.now())


def reset_socket_counts() -> int:
    """At the start of the only web process (the embedded run): no socket is open yet, so
    counts left by a process that died are wrong."""
    return Screen.objects.exclude(connected_sockets=0).update(connected_sockets=0)
