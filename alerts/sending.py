"""Sending queued deliveries: e-mail through Django's mail backend, webhooks over HTTP.

Each delivery is claimed before it is sent (its next attempt moved past the longest a send can
take), so two senders, the periodic run and a "send test" click, never send it twice, and a
sender that dies mid-send leaves it to be retried once the claim runs out. A failure is kept on
the row and logged, then retried with back-off until the last attempt marks it failed.

What is logged or stored never holds a password, a signing secret nor a webhook's URL (Slack
and Teams put their token in it): a webhook is named by its name.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import smtplib
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Delivery, Webhook
from core.locks import exclusive

logger = logging.getLogger(__name__)

#: Seconds between two looks for deliveries due.
DELIVERY_INTERVAL = 2.0
#: At most this many deliveries per run; the rest wait for the next run.
BATCH_SIZE = 100
#: A run stops taking deliveries after this long, well within its lock's life.
RUN_SECONDS = 120.0
LOCK_TTL = 300.0
#: The wait before each retry: the n-th failure waits BACKOFF[n - 1].
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)
#: The first attempt and one per back-off step; then the delivery is failed for good.
MAX_ATTEMPTS = len(BACKOFF) + 1
#: How long a claimed delivery is left to its sender before another may retry it.
CLAIM = timedelta(minutes=5)
#: Teams' card colour by kind of message.
THEME_COLORS: dict[str, str] = {
    Delivery.Kind.FIRED: "D13438",
    Delivery.Kind.ESCALATED: "CA5010",
    Delivery.Kind.RESOLVED: "107C10",
}
DEFAULT_THEME_COLOR = "0078D4"
#: A path segment this long in a webhook's URL is taken for a token (never logged).
TOKEN_LENGTH = 16
#: Slack refuses a text over 40,000 characters.
SLACK_TEXT_LIMIT = 39_000


class SendFailed(Exception):
    """A delivery could not be sent: the message is the plain sentence kept on the row.

    ``final`` when retrying cannot help (the webhook was disabled or deleted).
    """

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


class NoMailServerBackend(BaseEmailBackend):
    """Production without EMAIL_HOST: every e-mail fails, visibly, instead of vanishing."""

    def send_messages(self, email_messages: Iterable[Any]) -> int:
        raise SendFailed(_("No mail server is set: EMAIL_HOST is empty."))


def deliver_due(now: datetime | None = None) -> int:
    """Send the deliveries due (first tries and retries alike); how many were sent."""
    with exclusive("alerts:deliver", LOCK_TTL) as acquired:
        if not acquired:
            return 0
        started = time.monotonic()
        sent = 0
        with _Senders() as senders:
            for delivery in _due(now or timezone.now()):
                if time.monotonic() - started > RUN_SECONDS:
                    break
                sent += _attempt(delivery, senders, now)
        return sent


def send_now(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """Try each delivery once, now, whatever its next attempt: the "send test" button shows
    the outcome at once. A delivery another sender holds, or already done, is returned as it
    stands."""
    deliveries = list(deliveries)
    with _Senders() as senders:
        for delivery in deliveries:
            _attempt(delivery, senders, None)
    return deliveries


def _due(now: datetime) -> list[Delivery]:
    """The pending deliveries whose time has come, the longest waiting first."""
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    return list(
        Delivery.objects.filter(due, status=Delivery.Status.PENDING).order_by(
            "next_attempt_at", "pk"
        )[:BATCH_SIZE]
    )


def _attempt(delivery: Delivery, senders: _Senders, now: datetime | None) -> bool:
    """Send once and record the outcome on ``delivery``; True if this call sent it (a delivery
    another sender holds or finished is only read back)."""
    moment = now or timezone.now()
    if not _claim(delivery, moment + CLAIM):
        delivery.refresh_from_db()
        return False
    try:
        senders.send(delivery)
    except SendFailed as failure:
        _record_failure(delivery, failure, moment)
    except Exception as exc:
        # A fault of ours (a malformed payload): kept on the row like any failure. The trace
        # only at DEBUG: an unforeseen message might quote what must not be logged.
        logger.debug("delivery %s: unexpected error", delivery.pk, exc_info=True)
        reason = _("The message could not be sent (%(detail)s).") % {
            "detail": exception_text(exc, *_webhook_secrets(delivery.webhook))
        }
        _record_failure(delivery, SendFailed(reason), moment)
    else:
        _record_sent(delivery, moment)
        return True
    return False


def _claim(delivery: Delivery, until: datetime) -> bool:
    """Take the delivery as this sender read it; False if another sender got there first."""
    claimed = Delivery.objects.filter(
        pk=delivery.pk,
        status=Delivery.Status.PENDING,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
    ).update(next_attempt_at=until)
    return claimed == 1


def _record_sent(delivery: Delivery, now: datetime) -> None:
    """Sent; an earlier error stays on the row: it says why it took more than one attempt."""
    delivery.status = Delivery.Status.SENT
    delivery.sent_at = now
    delivery.attempts += 1
    delivery.next_attempt_at = None
    delivery.save(update_fields=["status", "sent_at", "attempts", "next_attempt_at"])
    logger.info("delivery %s sent to %s", delivery.pk, delivery.recipient)


def _record_failure(delivery: Delivery, failure: SendFailed, now: datetime) -> None:
    delivery.attempts += 1
    delivery.last_error = failure.reason[:1000]
    if failure.final or delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = Delivery.Status.FAILED
        delivery.next_attempt_at = None
        logger.warning(
            "delivery %s to %s failed after %d attempt(s), given up: %s",
            delivery.pk,
            delivery.recipient,
            delivery.attempts,
            failure.reason,
        )
    else:
        delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
        logger.warning(
            "delivery %s to %s failed (attempt %d of %d), next attempt at %s: %s",
            delivery.pk,
            delivery.recipient,
            delivery.attempts,
            MAX_ATTEMPTS,
            delivery.next_attempt_at.isoformat(),
            failure.reason,
        )
    delivery.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])


class _Senders:
    """One mail connection and one HTTP client for a whole run, opened on first use."""

    def __init__(self) -> None:
        self._mail: BaseEmailBackend | None = None
        #: Why the mail server could not be opened: the run's other e-mails fail alike.
        self._mail_down: SendFailed | None = None
        self._http: httpx.Client | None = None

    def __enter__(self) -> _Senders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_mail()
        if self._http is not None:
            self._http.close()

    def send(self, delivery: Delivery) -> None:
        if delivery.channel == Delivery.Channel.WEBHOOK:
            post_webhook(delivery, self._client())
        else:
            self._send_email(delivery)

    def _send_email(self, delivery: Delivery) -> None:
        message = email_message(delivery)
        connection = self._mail_connection()
        try:
            taken = connection.send_messages([message])
        except SendFailed:
            raise
        except Exception as exc:
            # The connection may be broken: the next e-mail opens a fresh one.
            self._close_mail()
            raise SendFailed(mail_error(exc, connection)) from exc
        if not taken:
            raise SendFailed(_("The mail server did not take the message."))

    def _mail_connection(self) -> BaseEmailBackend:
        if self._mail_down is not None:
            raise self._mail_down
        if self._mail is None:
            try:
                self._mail = _open_mail()
            except SendFailed as failure:
                self._mail_down = failure
                raise
        return self._mail

    def _close_mail(self) -> None:
        if self._mail is not None:
            connection, self._mail = self._mail, None
            # Closing a broken connection may fail too: it is dropped either way.
            with contextlib.suppress(Exception):
                connection.close()

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                timeout=settings.ALERT_WEBHOOK_TIMEOUT,
                headers={"User-Agent": "cwork-dashboard"},
            )
        return self._http


# --- e-mail -----------------------------------------------------------------------------------


def email_message(delivery: Delivery) -> EmailMultiAlternatives:
    """The payload as an e-mail: its text, the HTML alternative and the attachments."""
    payload = delivery.payload
    message = EmailMultiAlternatives(
        subject=" ".join(str(payload["subject"]).split()),
        body=payload["text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.recipient],
        # Out-of-office replies and the like are not sent back to an automatic message.
        headers={"Auto-Submitted": "auto-generated"},
    )
    if payload.get("html"):
        message.attach_alternative(payload["html"], "text/html")
    for attachment in payload.get("attachments", ()):
        mimetype = attachment.get("mimetype") or "application/octet-stream"
        message.attach(attachment["filename"], _attachment_bytes(attachment), mimetype)
    return message


def _attachment_bytes(attachment: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(attachment["content_base64"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        reason = _("The attachment “%(name)s” is not valid base64.")
        raise SendFailed(reason % {"name": attachment["filename"]}, final=True) from None


def _open_mail() -> BaseEmailBackend:
    """The configured backend, opened (for SMTP: connected and logged in)."""
    connection = None
    try:
        connection = get_connection()
        connection.open()
    except SendFailed:
        raise
    except Exception as exc:
        raise SendFailed(mail_error(exc, connection)) from exc
    return connection


def mail_error(exc: BaseException, connection: BaseEmailBackend | None) -> str:
    """What went wrong, in a sentence a person can act on (never the password)."""
    values = {"detail": _mail_detail(exc)}
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _("The mail server refused the login (%(detail)s).") % values
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _("The mail server refused the address (%(detail)s).") % values
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _("The mail server closed the connection (%(detail)s).") % values
    if isinstance(exc, smtplib.SMTPException):
        return _("The mail server refused the message (%(detail)s).") % values
    if isinstance(exc, OSError) and isinstance(connection, SmtpBackend):
        values["server"] = f"{connection.host}:{connection.port}"
        return _("The mail server %(server)s could not be reached (%(detail)s).") % values
    return _("The e-mail could not be sent (%(detail)s).") % values


def _mail_detail(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = [
            f"{address}: {code} {_decoded(said)}"
            for address, (code, said) in exc.recipients.items()
        ]
        return _scrubbed("; ".join(refused), ())
    if isinstance(exc, smtplib.SMTPResponseException):
        return _scrubbed(f"{exc.smtp_code} {_decoded(exc.smtp_error)}", ())
    return exception_text(exc)


def _decoded(said: bytes | str) -> str:
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)


# --- webhooks ---------------------------------------------------------------------------------


def post_webhook(delivery: Delivery, client: httpx.Client) -> None:
    """POST the payload in the webhook's format, signed when the webhook has a secret."""
    hook = _current_webhook(delivery)
    body = webhook_body(hook.format, delivery.kind, delivery.payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Delivery-Id": str(delivery.pk),
    }
    if hook.secret:
        headers["X-Signature-256"] = signature(hook.secret, body)
    secrets = _webhook_secrets(hook)
    try:
        response = client.post(hook.url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        reason = _("The webhook did not answer within %(seconds)g s.")
        raise SendFailed(reason % {"seconds": settings.ALERT_WEBHOOK_TIMEOUT}) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = _("The webhook could not be reached (%(detail)s).")
        raise SendFailed(reason % {"detail": exception_text(exc, *secrets)}) from exc
    if not response.is_success:
        raise SendFailed(status_error(response, secrets))


def _current_webhook(delivery: Delivery) -> Webhook:
    """The webhook as it is now: one disabled or deleted since the queueing is not posted to."""
    hook = Webhook.objects.filter(pk=delivery.webhook_id).first() if delivery.webhook_id else None
    if hook is None:
        reason = _("The webhook “%(name)s” was deleted after this message was queued.")
        raise SendFailed(reason % {"name": delivery.recipient}, final=True)
    if not hook.enabled:
        reason = _("The webhook “%(name)s” is disabled.")
        raise SendFailed(reason % {"name": hook.name}, final=True)
    return hook


def webhook_body(webhook_format: str, kind: str, payload: dict[str, Any]) -> bytes:
    """The exact bytes posted (and signed)."""
    shapes: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
        Webhook.Format.SLACK: _slack,
        Webhook.Format.TEAMS: _teams,
    }
    shape = shapes.get(webhook_format, _plain)
    return json.dumps(shape(kind, payload), ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """``X-Signature-256``: receivers recompute it over the body they got, with their copy."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _slack(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    # Slack reads &, < and > as markup: escaped as its documentation asks.
    text = f"*{_slack_escaped(payload['subject'])}*\n{_slack_escaped(payload['text'])}"
    return {"text": text[:SLACK_TEXT_LIMIT]}


def _slack_escaped(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teams(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A MessageCard, the format Teams' incoming webhooks take."""
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": payload["subject"],
        "themeColor": THEME_COLORS.get(kind, DEFAULT_THEME_COLOR),
        "title": payload["subject"],
        # A card's text is Markdown: a single line break would be lost.
        "text": str(payload["text"]).replace("\n", "\n\n"),
    }
    url = (payload.get("event") or {}).get("url")
    if url:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": _("Open in the dashboard"),
                "targets": [{"os": "default", "uri": url}],
            }
        ]
    return card


def _plain(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": payload["subject"],
        "text": payload["text"],
        "event": payload.get("event") or {},
    }


def status_error(response: httpx.Response, secrets: Iterable[str]) -> str:
    """A non-2xx answer in words, with the start of what the receiver said (Slack and Teams
    say why they refused) when it is plain text."""
    values = {"status": response.status_code, "reason": response.reason_phrase}
    if response.status_code == 429 or response.status_code >= 500:
        reason = _("The webhook's server answered HTTP %(status)s %(reason)s.") % values
    else:
        reason = _("The webhook refused the message: HTTP %(status)s %(reason)s.") % values
    said = _scrubbed(response.text, secrets)[:200]
    if said and not said.startswith("<"):
        reason += " " + _("It said: “%(said)s”.") % {"said": said}
    return reason


def _webhook_secrets(hook: Webhook | None) -> list[str]:
    """The parts of a webhook that must never be logged: Slack's and Teams' URLs are
    credentials, so the whole URL, its path and query, the values in them (a receiver may
    echo one) and the signing secret."""
    if hook is None:
        return []
    parts = urlsplit(hook.url)
    values = [value for _name, value in parse_qsl(parts.query)]
    tokens = [segment for segment in parts.path.split("/") if len(segment) >= TOKEN_LENGTH]
    whole = [hook.url, parts.path, parts.query, parts.password or "", hook.secret]
    return sorted([*whole, *values, *tokens], key=len, reverse=True)


# --- error text -------------------------------------------------------------------------------


def exception_text(exc: BaseException, *secrets: str) -> str:
    """``Type: message``, on one line, short, with secrets (and the mail password) cut out."""
    said = str(exc).strip()
    text = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
    return _scrubbed(text, secrets)[:300]


def _scrubbed(text: str, secrets: Iterable[str]) -> str:
    text = " ".join(text.split())
    for secret in [*secrets, settings.EMAIL_HOST_PASSWORD]:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "…")
    return text
