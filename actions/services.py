"""Supervisor actions sent to CWork: checked, sent once, audited, then re-read.

``perform`` is the only way the dashboard writes to CWork. It refuses users who may not act
(nothing sent), refuses bad values (nothing sent), sends a given idempotency key at most once
(a second submit gets the first one's result), uses the user's own CWork key when they have
one, records every attempt in the audit trail and turns CWork's answer into a plain sentence.
After a success, or when the change may or may not have happened, it has the live status
re-read at once (queued, not in the request) so every screen shows what CWork now says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Action, can_act, cwork_key_for
from actions.forms import FORMS
from audit.models import ActionAttempt, Outcome
from core.queue import run_soon
from cwork.client import CWorkClient
from cwork.errors import (
    CWorkAPIError,
    CWorkError,
    CWorkProtocolError,
)
from stations.connection import cwork_client, shared_cwork_client
from stations.jobs import run_job
from stations.models import State, Station
from stations.tasks import poll_live

logger = logging.getLogger(__name__)

#: CWork's own wording for a change that may or may not have happened.
MAYBE_HAPPENED = _(
    "The change may or may not have happened. The status is being read again: check it "
    "before trying again."
)

#: Plain-language messages for the codes the doc lists for these endpoints (and a few more
#: that any call can get).
CODE_MESSAGES = {
    1001: _("CWork does not allow this with your CWork account (function not allowed)."),
    1004: _("CWork did not understand the request."),
    1009: _("CWork says a required value is missing."),
    1010: _("CWork refused the values sent."),
    1012: _("CWork cannot reach the machines' network (RemoteDNC engine) right now."),
    1013: _("This station is not assigned to monitor mode in CWork."),
    2003: _("This station is not available in CWork, or no longer exists there."),
    2004: _("CWork does not know this request on this station."),
    2005: _("CWork does not know this reason: the list may be out of date, reload the page."),
    2006: _("This reason is archived in CWork; it has been removed from the list."),
    2007: _("This station is not in MDC mode in CWork, so its state cannot be set."),
    2010: _("CWork says a required value is missing."),
    2020: _("The station is already in this state."),
    2021: _("This reason is not in the station's scenario for your CWork account."),
    2022: MAYBE_HAPPENED,
    2023: MAYBE_HAPPENED,
    3001: _("CWork's licence does not cover this (no monitor licence active)."),
    4000: _("CWork failed with an unexpected error. Try again; if it persists, tell IT."),
}

OK_MESSAGES = {
    Action.CHANGE_STATE: _("State changed."),
    Action.REPLACE_STATE: _("Current state replaced."),
    Action.FORCE_AUTO: _("Automatic state restored."),
    Action.RESET_PARTS: _("Part count reset."),
}


@dataclass(frozen=True)
class ActionResult:
    outcome: Outcome
    message: str
    attempt: ActionAttempt | None = None
    #: Per-field messages when the values were refused here.
    errors: Mapping[str, list[str]] = field(default_factory=dict)
    #: True when this key had already been used: nothing was sent this time.
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK

    @property
    def code(self) -> int | None:
        return self.attempt.cwork_code if self.attempt else None


def perform(
    user: Any,
    station: Station,
    action: Action | str,
    values: Mapping[str, Any],
    idempotency_key: str,
    *,
    client: CWorkClient | None = None,
) -> ActionResult:
    """Check, send once, audit and re-read. ``client`` replaces the one built from settings
    (and then re-polls with it too)."""
    action = Action(action)
    key = str(idempotency_key or "").strip()
    if not key:
        raise ValueError("an idempotency key is required")

    previous = ActionAttempt.objects.filter(idempotency_key=key).first()
    if previous is not None:
        return _result_of(previous, duplicate=True)

    authenticated = getattr(user, "is_authenticated", False)
    if not can_act(user, action, station):
        message = gettext("You are not allowed to do this on this station.")
        if not authenticated:  # no one to record: anonymous users and kiosk screens
            return ActionResult(Outcome.FORBIDDEN, message)
        return _recorded(user, station, action, dict(values), key, Outcome.FORBIDDEN, message)

    form = FORMS[action](data=values, station=station)
    if not form.is_valid():
        errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
        if set(errors) == {"confirm"}:
            message = gettext("Nothing was sent yet: confirm the count below.")
        else:
            message = gettext("Nothing was sent: correct the values below.")
        raw = {name: values.get(name) for name in form.fields if name != "confirm"}
        return _recorded(user, station, action, raw, key, Outcome.INVALID, message, errors=errors)

    sent = form.values()
    # Until CWork answers, nobody knows: a crash mid-call leaves the truth.
    attempt = _new_attempt(user, station, action, sent, key, Outcome.UNKNOWN)
    if attempt is None:  # the same key submitted twice at once: the first one sends
        return _result_of(ActionAttempt.objects.get(idempotency_key=key), duplicate=True)

    own = client is None
    started = time.monotonic()
    try:
        if client is None:  # own
            client = cwork_client(api_key=cwork_key_for(user))
        try:
            _send(client, station, action, sent)
        finally:
            if own:
                client.close()
    except CWorkError as exc:
        outcome, code, cwork_message = _classify(exc)
    else:
        outcome, code, cwork_message = Outcome.OK, None, ""
    attempt.outcome = outcome
    attempt.cwork_code = code
    attempt.cwork_message = cwork_message[:2000]
    attempt.duration = time.monotonic() - started
    attempt.save(update_fields=["outcome", "cwork_code", "cwork_message", "duration"])

    if code == 2006 and "state" in sent:
        note_archived(sent["state"])
    if outcome in (Outcome.OK, Outcome.UNKNOWN):
        _repoll(None if own else client)
    return _result_of(attempt)


def note_archived(state_cwork_id: int) -> None:
    """Remember a reason CWork refused as archived (its state list does not say so), so the
    forms stop offering it; an administrator can offer it again from the admin."""
    State.objects.filter(cwork_id=state_cwork_id, archived=False).update(archived=True)


def message_for(attempt: ActionAttempt) -> str:
    """The sentence a user reads for a recorded attempt."""
    outcome = attempt.outcome
    if outcome == Outcome.OK:
        return str(OK_MESSAGES[Action(attempt.action)])
    if outcome == Outcome.FORBIDDEN:
        return gettext("You are not allowed to do this on this station.")
    if outcome == Outcome.INVALID:
        return gettext("Nothing was sent: correct the values below.")
    if outcome == Outcome.UNKNOWN:
        return str(MAYBE_HAPPENED)
    if attempt.cwork_code in CODE_MESSAGES:
        return str(CODE_MESSAGES[attempt.cwork_code])
    if outcome == Outcome.REFUSED:
        return gettext("CWork refused the change (code %(code)s: %(message)s).") % {
            "code": attempt.cwork_code,
            "message": attempt.cwork_message,
        }
    return gettext("CWork could not be reached or did not answer: nothing was changed.")


def _send(client: CWorkClient, station: Station, action: Action, values: dict) -> None:
    handle = station.cwork_id
    if action == Action.CHANGE_STATE:
        client.change_state(handle, values["state"], values.get("comment"))
    elif action == Action.REPLACE_STATE:
        client.replace_current_state(handle, values["state"], values.get("comment"))
    elif action == Action.FORCE_AUTO:
        client.force_auto_state(handle)
    elif action == Action.RESET_PARTS:
        client.reset_part_count(handle, values["part_count"])
    else:  # pragma: no cover - Action is closed
        raise ValueError(action)


def _classify(exc: CWorkError) -> tuple[Outcome, int | None, str]:
    if exc.outcome_unknown or isinstance(exc, CWorkProtocolError):
        # An unreadable answer to a write means CWork did answer: it may have done it.
        code = exc.code if isinstance(exc, CWorkAPIError) else None
        text = exc.message if isinstance(exc, CWorkAPIError) else str(exc)
        return Outcome.UNKNOWN, code, text
    if isinstance(exc, CWorkAPIError):
        if exc.code in (4000, 1012) or (exc.http_status >= 500 and exc.code not in CODE_MESSAGES):
            return Outcome.FAILED, exc.code, exc.message
        return Outcome.REFUSED, exc.code, exc.message
    # Nothing usable came back before sending, or the server's version lacks the call.
    return Outcome.FAILED, None, str(exc)


def _repoll(client: CWorkClient | None) -> None:
    """Have the live status read again at once, so the page and the walls show what CWork
    now says: queued to what runs the live poll (the embedded scheduler's thread, or a Celery
    worker), never in the request. Run here only where nothing else would (a shell, the
    tests) or with the client ``perform`` was given."""
    if client is None and run_soon(poll_live.name, expires=repoll_expiry()):
        return
    try:
        result = run_job("live", client=client or shared_cwork_client())
    except Exception:  # the action is done and recorded; a failed re-read is not its failure
        logger.exception("re-reading the live status after an action failed")
        return
    if not result.ran or not result.ok:
        logger.info("live status not re-read after an action: %s", result.reason)


def repoll_expiry() -> float:
    """Seconds a queued re-read may wait for a worker: ten polls (by then the scheduled polls
    have read the change anyway), and never less than half a minute, so a few seconds'
    difference between the web's and the worker's clocks does not drop it."""
    return max(30.0, 10 * float(settings.POLL_INTERVAL))


def _recorded(
    user: Any,
    station: Station,
    action: Action,
    values: dict,
    key: str,
    outcome: Outcome,
    message: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
) -> ActionResult:
    attempt = _new_attempt(user, station, action, values, key, outcome)
    if attempt is None:
        return _result_of(ActionAttempt.objects.get(idempotency_key=key), duplicate=True)
    return ActionResult(outcome, message, attempt, errors or {})


def _new_attempt(
    user: Any, station: Station, action: Action, values: dict, key: str, outcome: Outcome
) -> ActionAttempt | None:
    """The audit row of one attempt; None if its idempotency key is already recorded."""
    try:
        with transaction.atomic():
            return ActionAttempt.objects.create(
                user=user,
                username=user.get_username(),
                started_at=timezone.now(),
                station=station,
                station_cwork_id=station.cwork_id,
                action=action.value,
                values=_jsonable(values),
                idempotency_key=key,
                outcome=outcome,
            )
    except IntegrityError:
        return None


def _result_of(attempt: ActionAttempt, *, duplicate: bool = False) -> ActionResult:
    return ActionResult(Outcome(attempt.outcome), message_for(attempt), attempt, {}, duplicate)


def _jsonable(values: dict) -> dict:
    out = {}
    for name, value in values.items():
        if value is None or isinstance(value, bool | int | float | str):
            out[name] = value if not isinstance(value, str) else value[:1000]
        else:
            out[name] = str(value)[:1000]
    return out
