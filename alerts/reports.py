"""End-of-shift reports and the "shift OEE below target" alerts.

Both look, every ``SHIFT_END_INTERVAL`` seconds, for shifts that ended at least
``SHIFT_REPORT_DELAY_MINUTES`` ago: the quality rate (and so the OEE) comes from CWork's own
figures, which the dashboard fetches every 5 minutes, so a shift is only complete a little
after it ends. Shifts that ended more than ``SHIFT_REPORT_MAX_AGE_HOURS`` ago are left alone:
a dashboard started again after a long stop does not mail a pile of old shifts.

Only workshops with a configured calendar have shifts: a workshop taken as open 24/7 gets no
report and no shift-OEE check (the subscription page says so).

A report is built from the shift review itself (:func:`kpis.review.build_review`, with the
review's own form reading the same query as the link in the message), so the mail, the page
and the attached workbook show the same figures. Nothing is sent here: the deliveries are
queued and :mod:`alerts.sending` sends them.
"""

from __future__ import annotations

import base64
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.languages import user_language
from accounts.permissions import visible_stations
from alerts.engine import Hit, RuleSpec, load_rules, raise_event, station_views
from alerts.messages import absolute_url
from alerts.models import Alert, AlertRule, Condition, Delivery, ReportSubscription, ShiftReport
from alerts.outbox import queue_message
from core.formatting import format_duration, local_moment
from core.locks import exclusive
from kpis import exports
from kpis.calendar import Calendars, CalendarSpec, Occurrence, find, occurrences
from kpis.engine import station_kpis
from kpis.forms import ReviewForm, review_data, review_query
from kpis.review import Review, Row, build_review, pct, total_parts
from stations.models import Station

logger = logging.getLogger(__name__)

#: Seconds between two looks for shifts that ended.
SHIFT_END_INTERVAL = 60.0
#: One run at a time across workers (a cache lock; it expires if its holder dies).
RUN_LOCK = "job:alerts.shift_end"
RUN_LOCK_SECONDS = 15 * 60
#: The biggest losses and alarms a report lists (the review page has them all).
TOP_LOSSES = 5
#: The comparison's figures a report shows: the review's first four (OEE and its factors).
COMPARED_RATES = 4
#: Recent reports listed on the reports page.
RECENT_REPORTS = 30

#: Ids beyond this are not ids (the database's integers are 64-bit).
MAX_ID = 2**63

REVIEW_PERMISSION = "accounts.view_reviews"
MANAGE_PERMISSION = "accounts.manage_alerts"


class ReportUnavailable(Exception):
    """The report cannot be built (no station left in the workshop, the shift is gone from
    its calendar); the message says why, in words."""


class SubscriptionError(Exception):
    """A subscription change that names what the user may not choose; nothing was saved."""


def report_delay() -> timedelta:
    return timedelta(minutes=settings.SHIFT_REPORT_DELAY_MINUTES)


def report_max_age() -> timedelta:
    return timedelta(hours=settings.SHIFT_REPORT_MAX_AGE_HOURS)


def ended_shifts(spec: CalendarSpec, now: datetime) -> list[Occurrence]:
    """The calendar's shifts that ended between the maximum age and the delay ago."""
    if not spec.configured:
        return []
    newest, oldest = now - report_delay(), now - report_max_age()
    if newest <= oldest:
        return []
    return [occ for occ in occurrences(spec, oldest, newest) if oldest < occ.end <= newest]


def run_shift_ends(now: datetime | None = None) -> int:
    """The periodic entry: queue the reports of the shifts that ended and raise the shift-OEE
    alerts. Returns the reports queued plus the alerts raised (for the schedule's log)."""
    now = now or timezone.now()
    with exclusive(RUN_LOCK, ttl=RUN_LOCK_SECONDS) as held:
        if not held:
            # Another worker is on it; the unique report row would refuse a duplicate
            # anyway, this only spares computing every review twice.
            logger.info("shift ends: another run is in progress")
            return 0
        calendars = Calendars()
        return queue_shift_reports(now, calendars) + check_shift_oee(now, calendars)


# ----------------------------------------------------------------------------------------
# The reports
# ----------------------------------------------------------------------------------------


def queue_shift_reports(now: datetime, calendars: Calendars | None = None) -> int:
    """One report per subscribed workshop and ended shift, once: how many were queued."""
    calendars = calendars or Calendars()
    workshops = sorted(set(ReportSubscription.objects.values_list("workshop", flat=True)))
    queued = 0
    for workshop in workshops:
        due = ended_shifts(calendars.for_workshop(workshop), now)
        if not due:
            continue
        done = set(
            ShiftReport.objects.filter(
                workshop=workshop, shift_start__in=[occ.start for occ in due]
            ).values_list("shift_start", flat=True)
        )
        for occ in due:
            if occ.start not in done and _claim_and_queue(workshop, occ, now, calendars):
                queued += 1
    return queued


def _claim_and_queue(workshop: str, occ: Occurrence, now: datetime, calendars: Calendars) -> bool:
    """Build the report, then claim the shift and queue its mails in one transaction: the
    unique (workshop, shift start) makes a second worker's claim fail, and it skips."""
    try:
        payload = report_message(workshop, occ, now, calendars)
    except ReportUnavailable as error:
        logger.info("no report for %s, %s: %s", workshop, occ.key, error)
        return False
    try:
        with transaction.atomic():
            report = ShiftReport.objects.create(
                workshop=workshop,
                shift_key=occ.key,
                shift_start=occ.start,
                shift_end=occ.end,
                created_at=now,
            )
            _queue(report, {payload["language"]: payload}, now, calendars)
    except IntegrityError:
        logger.info("report for %s, %s: already claimed by another worker", workshop, occ.key)
        return False
    return True


@dataclass(frozen=True, slots=True)
class Recipients:
    addresses: list[str]
    #: Each address's language (the subscriber's choice, else the plant's).
    languages: dict[str, str]
    #: Subscribers left out, by user name: no e-mail address, or no longer allowed to read
    #: the workshop's review.
    without_email: list[str]
    not_allowed: list[str]


def recipients(workshop: str) -> Recipients:
    """The addresses of the workshop's active subscribers who may still read its review."""
    addresses: list[str] = []
    languages: dict[str, str] = {}
    without_email: list[str] = []
    not_allowed: list[str] = []
    users = (
        get_user_model()
        .objects.filter(shift_reports__workshop=workshop, is_active=True)
        .order_by("username")
        .select_related("profile")
    )
    for user in users:
        if not may_read(user, workshop):
            not_allowed.append(user.get_username())
        elif not user.email:
            without_email.append(user.get_username())
        else:
            addresses.append(user.email)
            languages.setdefault(user.email, user_language(user))
    return Recipients(list(dict.fromkeys(addresses)), languages, without_email, not_allowed)


def may_read(user: Any, workshop: str) -> bool:
    """A report holds the workshop's review: only for those who may read that review."""
    return user.has_perm(REVIEW_PERMISSION) and workshop in workshops_for(user)


def _queue(
    report: ShiftReport,
    payloads: dict[str, dict[str, Any]],
    now: datetime,
    calendars: Calendars | None = None,
) -> int:
    """One mail per subscriber, in their language. ``payloads``: the messages already made,
    by language; a missing language is made now, or the report goes in one made already
    when the shift has left the calendar."""
    found = recipients(report.workshop)
    if found.without_email:
        logger.info(
            "report %s: %d subscriber(s) without an e-mail address left out: %s",
            report,
            len(found.without_email),
            ", ".join(found.without_email),
        )
    if found.not_allowed:
        logger.info(
            "report %s: %d subscriber(s) no longer allowed to read it left out: %s",
            report,
            len(found.not_allowed),
            ", ".join(found.not_allowed),
        )
    by_language: dict[str, list[str]] = defaultdict(list)
    for address in found.addresses:
        by_language[found.languages[address]].append(address)
    queued = 0
    for language, addresses in sorted(by_language.items()):
        payload = payloads.get(language) or _payload_in(report, language, now, calendars)
        payload = payload or next(iter(payloads.values()))
        queued += queue_message(Delivery.Kind.REPORT, addresses, payload, now, report=report)
    return queued


def _payload_in(
    report: ShiftReport, language: str, now: datetime, calendars: Calendars | None
) -> dict[str, Any] | None:
    calendars = calendars or Calendars()
    occ = find(calendars.for_workshop(report.workshop), report.shift_key)
    if occ is None or occ.start != report.shift_start:
        return None
    try:
        return report_message(report.workshop, occ, now, calendars, language=language)
    except ReportUnavailable:
        return None


def resend_report(report: ShiftReport, user: Any, now: datetime) -> int:
    """Queue the report again to the workshop's current subscribers, recording who asked:
    the same message as first sent (what was true then), or built now if none was queued.
    Returns how many mails were queued."""
    payloads: dict[str, dict[str, Any]] = {}
    for sent in report.deliveries.order_by("pk").only("payload"):
        if sent.payload:
            payloads.setdefault(sent.payload.get("language", settings.LANGUAGE_CODE), sent.payload)
    if not payloads:
        plant = _payload_in(report, settings.LANGUAGE_CODE, now, None)
        if plant is None:
            raise ReportUnavailable(_("This shift is no longer in the workshop's calendar."))
        payloads[settings.LANGUAGE_CODE] = plant
    with transaction.atomic():
        queued = _queue(report, payloads, now)
        if queued:
            ShiftReport.objects.filter(pk=report.pk).update(resent_by=user)
            report.resent_by = user
    return queued


# ----------------------------------------------------------------------------------------
# What a report says
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One station (or the total) as the report's table shows it."""

    label: str
    oee: str
    availability: str
    performance: str
    quality: str
    parts: str
    run: str
    stop: str
    is_total: bool = False


def report_review(
    workshop: str, occ: Occurrence, now: datetime, calendars: Calendars
) -> tuple[ReviewForm, Review]:
    """The shift review of the workshop's shift, read through the review's own form from the
    query the report links to."""
    stations = list(Station.objects.order_by("name", "pk"))
    data = review_data(workshop=workshop, day=occ.day, shift=occ.name)
    form = ReviewForm(data, stations=stations, calendars=calendars)
    if not form.is_valid() or form.chosen_period is None:
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        raise ReportUnavailable(errors or _("the shift review cannot be built"))
    return form, build_review(form.stations, form.chosen_period, now=now, calendars=calendars)


def _parts_text(parts: float | None) -> str:
    return "—" if parts is None else f"{parts:.0f}"


def _line(row: Row, parts: float | None) -> ReportLine:
    cells = {cell.column.key: cell.text for cell in row.cells}
    kpis = row.kpis
    stop = None if kpis.ppt is None or kpis.rt is None else max(0.0, kpis.ppt - kpis.rt)
    return ReportLine(
        label=row.label,
        oee=cells["oee"],
        availability=cells["availability"],
        performance=cells["performance"],
        quality=cells["quality"],
        parts=_parts_text(parts),
        run=cells["rt"],
        stop=format_duration(stop),
        is_total=row.is_total,
    )


def report_message(
    workshop: str,
    occ: Occurrence,
    now: datetime,
    calendars: Calendars | None = None,
    *,
    language: str | None = None,
) -> dict[str, Any]:
    """The report's mail (subject, text, HTML, the review as .xlsx) in one language (the
    plant's by default): built once for all the recipients who read it."""
    calendars = calendars or Calendars()
    language = language or settings.LANGUAGE_CODE
    with translation.override(language):
        form, review = report_review(workshop, occ, now, calendars)
        return {**_message(workshop, occ, form, review), "language": language}


def _message(workshop: str, occ: Occurrence, form: ReviewForm, review: Review) -> dict[str, Any]:
    period = review.period
    start, until = review.report.start, review.report.until
    ids = [s.pk for s in review.stations]
    lines = [
        _line(row, total_parts([row.station.pk], start, until))
        for row in review.rows
        if row.station is not None
    ]
    total = _line(review.total, total_parts(ids, start, until))
    query = review_query(workshop=workshop, day=occ.day, shift=occ.name)
    url = absolute_url(f"{reverse('kpis:review')}?{query}")
    stops = review.stop_pareto
    alarms = review.alarm_pareto
    context = {
        "workshop": workshop,
        "shift": period.label,
        "start": local_moment(period.start),
        "end": local_moment(period.end),
        "oee": total.oee,
        "lines": lines,
        "total": total,
        "losses": stops.bars[:TOP_LOSSES] if stops else [],
        "losses_total": stops.total_text if stops else "",
        "alarms": alarms.bars[:TOP_LOSSES] if alarms else [],
        "current": review.current[:COMPARED_RATES],
        "compared": [
            {"label": other.label, "figures": other.figures[:COMPARED_RATES]}
            for other in review.compared
        ],
        "url": url,
    }
    subject = _("%(workshop)s · %(shift)s: OEE %(oee)s") % {
        "workshop": workshop,
        "shift": period.label,
        "oee": total.oee,
    }
    name = exports.filename(form.scope_slug(), period.slug, "xlsx")
    title = f"{form.scope_label()} · {period.label}"
    workbook = exports.xlsx_response(review, name=name, title=title).content
    return {
        "subject": subject,
        "text": render_to_string("alerts/email/report.txt", context),
        "html": render_to_string("alerts/email/report.html", context),
        "event": {
            "kind": "report",
            "workshop": workshop,
            "shift": occ.key,
            "shift_label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "oee": review.total.kpis.oee,
            "url": url,
        },
        "attachments": [
            {
                "filename": name,
                "mimetype": exports.XLSX_TYPE,
                "content_base64": base64.b64encode(workbook).decode("ascii"),
            }
        ],
    }


# ----------------------------------------------------------------------------------------
# Shift OEE below target
# ----------------------------------------------------------------------------------------


def _checked_key(rule: RuleSpec, station_id: int, occ: Occurrence) -> str:
    # The target is in the key: a rule whose target changes checks its shifts again.
    return (
        f"alerts:shift-oee:{rule.id}:{rule.threshold_percent}:{station_id}:"
        f"{int(occ.start.timestamp())}"
    )


def check_shift_oee(now: datetime, calendars: Calendars | None = None) -> int:
    """Each enabled SHIFT_OEE rule against each station in its scope whose shift ended:
    an alert when the shift's OEE is below the rule's target, once per station and shift
    (the alert itself, with the shift's start as its start, is the guard). A station's
    figures are computed once per shift; a check done is remembered in the cache so ended
    shifts are not computed again every minute. Returns the alerts raised."""
    rules = [
        rule for rule in load_rules((Condition.SHIFT_OEE,)) if rule.threshold_percent is not None
    ]
    if not rules:
        return 0
    calendars = calendars or Calendars()
    views = station_views()
    figures: dict[tuple[datetime, datetime], dict[int, float | None]] = {}
    ended: dict[str, tuple[CalendarSpec, list[Occurrence]]] = {}
    for view in views:
        if view.workshop not in ended:
            spec = calendars.for_workshop(view.workshop)
            ended[view.workshop] = (spec, ended_shifts(spec, now))
    raised = 0
    for rule in rules:
        due: dict[tuple[datetime, datetime], list[tuple[int, Occurrence]]] = defaultdict(list)
        for view in views:
            if not rule.covers(view):
                continue
            spec, shifts = ended[view.workshop]
            for occ in shifts:
                if rule.shifts and (spec.name, occ.name) not in rule.shifts:
                    continue
                due[(occ.start, occ.end)].append((view.id, occ))
        if not due:
            continue
        keys = [_checked_key(rule, sid, occ) for items in due.values() for sid, occ in items]
        done = set(cache.get_many(keys))
        alerted = set(
            Alert.objects.filter(
                rule_id=rule.id, since__in=[start for start, _end in due]
            ).values_list("station_id", "since")
        )
        checked: dict[str, bool] = {}
        for span, items in due.items():
            todo = [
                (sid, occ)
                for sid, occ in items
                if _checked_key(rule, sid, occ) not in done and (sid, occ.start) not in alerted
            ]
            if not todo:
                continue
            oees = _shift_oees(figures, span, [sid for sid, _occ in todo], now, calendars)
            for sid, occ in todo:
                raised += _check_one(rule, sid, occ, oees.get(sid), now)
                checked[_checked_key(rule, sid, occ)] = True
        if checked:
            timeout = (report_max_age() + timedelta(hours=1)).total_seconds()
            cache.set_many(checked, timeout=timeout)
    return raised


def _shift_oees(
    figures: dict[tuple[datetime, datetime], dict[int, float | None]],
    span: tuple[datetime, datetime],
    station_ids: list[int],
    now: datetime,
    calendars: Calendars,
) -> dict[int, float | None]:
    """The stations' OEE over the span, computed once per span for every rule."""
    known = figures.setdefault(span, {})
    missing = [sid for sid in station_ids if sid not in known]
    if missing:
        stations = list(Station.objects.filter(pk__in=missing).order_by("pk"))
        report = station_kpis(stations, span[0], span[1], now=now, calendars=calendars)
        for row in report.rows:
            known[row.station.pk] = row.kpis.oee
    return known


def _check_one(
    rule: RuleSpec, station_id: int, occ: Occurrence, oee: float | None, now: datetime
) -> int:
    if oee is None:
        logger.info(
            "shift OEE of station %s on %s is unknown: rule %s not checked",
            station_id,
            occ.key,
            rule.name,
        )
        return 0
    target = (rule.threshold_percent or 0) / 100
    if oee >= target:
        return 0
    summary = _("OEE %(oee)s < target %(target)s %% on %(shift)s") % {
        "oee": pct(oee),
        "target": rule.threshold_percent,
        "shift": occ.label(),
    }
    with transaction.atomic():
        # One check at a time per rule (a row lock where the database has them), then the
        # alert rows themselves say whether this shift was already told.
        AlertRule.objects.select_for_update().filter(pk=rule.id).first()
        if Alert.objects.filter(rule_id=rule.id, station_id=station_id, since=occ.start).exists():
            return 0
        result = raise_event(rule, station_id, Hit(since=occ.start, summary=summary), now)
    return result.fired + result.suppressed


# ----------------------------------------------------------------------------------------
# Subscriptions
# ----------------------------------------------------------------------------------------


def workshops_for(user: Any) -> list[str]:
    """The workshops a user may receive reports for: those of the stations they see."""
    return sorted(
        set(visible_stations(user).exclude(workshop="").values_list("workshop", flat=True))
    )


def all_workshops() -> list[str]:
    """Every workshop of a station, and any that still has subscribers."""
    named = set(Station.objects.exclude(workshop="").values_list("workshop", flat=True))
    named |= set(ReportSubscription.objects.values_list("workshop", flat=True))
    return sorted(named)


def subscribed_workshops(user: Any) -> set[str]:
    return set(ReportSubscription.objects.filter(user=user).values_list("workshop", flat=True))


def set_subscriptions(user: Any, workshops: Iterable[str]) -> None:
    """The user receives the reports of exactly these workshops (among those they see)."""
    chosen = set(workshops)
    unknown = sorted(chosen - set(workshops_for(user)))
    if unknown:
        raise SubscriptionError(
            _("You cannot receive the reports of: %(names)s.") % {"names": ", ".join(unknown)}
        )
    with transaction.atomic():
        ReportSubscription.objects.filter(user=user).exclude(workshop__in=chosen).delete()
        have = subscribed_workshops(user)
        ReportSubscription.objects.bulk_create(
            [ReportSubscription(user=user, workshop=w) for w in sorted(chosen - have)]
        )


def report_readers() -> list[Any]:
    """Active users who may read shift reviews (by role, by their own permission, or as
    superusers)."""
    app, codename = REVIEW_PERMISSION.split(".")
    perm = Permission.objects.filter(content_type__app_label=app, codename=codename).first()
    allowed = Q(is_superuser=True)
    if perm is not None:
        allowed |= Q(groups__permissions=perm) | Q(user_permissions=perm)
    users = get_user_model().objects.filter(is_active=True).filter(allowed).distinct()
    return list(users.order_by("username"))


def readers_by_workshop() -> dict[str, list[Any]]:
    """Who may be subscribed to each workshop's reports: the readers who see it (each
    reader's workshops read once)."""
    out: dict[str, list[Any]] = defaultdict(list)
    for user in report_readers():
        for workshop in workshops_for(user):
            out[workshop].append(user)
    return dict(out)


def set_workshop_subscribers(workshop: str, user_ids: Iterable[int]) -> None:
    """Exactly these users receive the workshop's reports; if any of them may not read
    them, nothing changes."""
    if workshop not in all_workshops():
        raise SubscriptionError(_("Unknown workshop: %(name)s.") % {"name": workshop})
    chosen = set(user_ids)
    allowed = {user.pk for user in readers_by_workshop().get(workshop, [])}
    refused = chosen - allowed
    if refused:
        names = sorted(
            get_user_model()
            .objects.filter(pk__in=[pk for pk in refused if 0 < pk < MAX_ID])
            .values_list("username", flat=True)
        )
        raise SubscriptionError(
            _("These users may not receive the reports of %(workshop)s: %(names)s.")
            % {"workshop": workshop, "names": ", ".join(names) or _("unknown users")}
        )
    with transaction.atomic():
        ReportSubscription.objects.filter(workshop=workshop).exclude(user_id__in=chosen).delete()
        have = set(
            ReportSubscription.objects.filter(workshop=workshop).values_list("user_id", flat=True)
        )
        ReportSubscription.objects.bulk_create(
            [ReportSubscription(user_id=uid, workshop=workshop) for uid in sorted(chosen - have)]
        )


def recent_reports(limit: int = RECENT_REPORTS) -> list[ShiftReport]:
    """The latest reports with their deliveries counted by status, and the failures."""
    status = Delivery.Status
    reports = (
        ShiftReport.objects.select_related("resent_by")
        .annotate(
            sent=Count("deliveries", filter=Q(deliveries__status=status.SENT)),
            failed=Count("deliveries", filter=Q(deliveries__status=status.FAILED)),
            pending=Count("deliveries", filter=Q(deliveries__status=status.PENDING)),
        )
        .prefetch_related(
            Prefetch(
                "deliveries",
                queryset=Delivery.objects.filter(status=status.FAILED).order_by("recipient"),
                to_attr="failures",
            )
        )
        .order_by("-shift_start", "workshop")
    )
    return list(reports[:limit])
