"""Alert rules against the live status, after every live poll (``after_poll``, connected to
``stations.signals.poll_committed`` in ``alerts.apps``).

The poll already holds what changed; the rules also depend on time passing (a stop that goes
on), so every enabled rule is checked against every station in its scope each cycle. That is
a few queries whatever the number of rules: the live status of the stations, the open alerts
and, when a rule needs them, the state buckets, the shift figures and the calendars.

An alert's life: pending as soon as its condition holds (so a condition's start survives a
state change within the same stop category, or a restart), firing once it has held for the
rule's minutes (level 1 told), escalated while it lasts, resolved when it clears (everyone
told is told so, with how long it lasted). A pending alert that clears is deleted unsent.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Alert, AlertRule, Condition, Delivery, EscalationLevel
from alerts.outbox import queue_for_alert
from core.memo import Memo
from cwork.oee import Bucket
from kpis.calendar import Calendars, shift_at
from kpis.current import ShiftFigures, cached_figures
from kpis.mapping import bucket_of, state_buckets
from stations.live_alarms import LiveAlarm, decode_alarms
from stations.models import LiveStatus, SyncKind

logger = logging.getLogger(__name__)

#: Conditions checked after each live poll (a shift's OEE is checked when the shift ends).
LIVE_CONDITIONS = (
    Condition.STATE,
    Condition.STOP,
    Condition.ALARM,
    Condition.NOT_REPORTING,
    Condition.BEHIND_PACE,
)
#: Buckets and calendars change rarely: read at most this often by one process.
SLOW_CACHE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class LevelSpec:
    level: int
    delay: timedelta


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as the evaluation reads it (sets and a compiled pattern, no queries)."""

    id: int
    name: str
    condition: str
    minutes: int
    state_ids: frozenset[int] = frozenset()
    stop_category: str = ""
    alarm_code: str = ""
    alarm_pattern: re.Pattern[str] | None = None
    threshold_percent: int | None = None
    station_ids: frozenset[int] = frozenset()
    workshops: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    #: (calendar name, shift name) pairs; empty: always active.
    shifts: frozenset[tuple[str, str]] = frozenset()
    repeat: timedelta = timedelta(minutes=30)
    max_per_hour: int = 20
    levels: tuple[LevelSpec, ...] = ()

    @property
    def hold(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    def covers(self, station: StationView) -> bool:
        """Whether ``station`` is in the rule's scope (no scope at all: every station)."""
        if not (self.station_ids or self.workshops or self.groups):
            return True
        return (
            station.id in self.station_ids
            or station.workshop in self.workshops
            or bool(self.groups & station.groups)
        )


@dataclass(frozen=True, slots=True)
class StationView:
    """What the rules see of one station."""

    id: int
    name: str
    workshop: str
    groups: frozenset[str]
    state_cwork_id: int | None
    state_name: str
    since: datetime | None
    #: The active alarms, in CWork's order (``stations.live_alarms``).
    alarms: tuple[LiveAlarm, ...]
    missing_since: datetime | None


@dataclass(frozen=True, slots=True)
class Hit:
    """The condition holds: since when (as far as CWork tells), and what it is, in words."""

    since: datetime
    summary: str


@dataclass(slots=True)
class Context:
    """What the conditions read beyond the station itself, loaded only when a rule needs it."""

    now: datetime
    buckets: dict[int, Bucket] = field(default_factory=dict)
    figures: dict[int, ShiftFigures] = field(default_factory=dict)
    calendars: Calendars | None = None


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """A rule's alarm pattern (validated by the form; a bad stored one matches nothing)."""
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        logger.warning("alert rule pattern %r is not a valid regular expression", pattern)
        return re.compile(r"(?!)")


def load_rules(conditions: Sequence[str] = LIVE_CONDITIONS) -> list[RuleSpec]:
    """Every enabled rule of these conditions, in five queries."""
    rules = (
        AlertRule.objects.filter(enabled=True, condition__in=conditions)
        .prefetch_related("states", "stations", "shifts__calendar", "levels")
        .order_by("pk")
    )
    return [rule_spec(rule) for rule in rules]


def rule_spec(rule: AlertRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        condition=rule.condition,
        minutes=rule.minutes,
        state_ids=frozenset(s.cwork_id for s in rule.states.all()),
        stop_category=rule.stop_category,
        alarm_code=rule.alarm_code.strip(),
        alarm_pattern=compile_pattern(rule.alarm_pattern),
        threshold_percent=rule.threshold_percent,
        station_ids=frozenset(s.pk for s in rule.stations.all()),
        workshops=frozenset(rule.workshops or ()),
        groups=frozenset(rule.groups or ()),
        shifts=frozenset((s.calendar.name, s.name) for s in rule.shifts.all()),
        repeat=timedelta(minutes=rule.repeat_minutes),
        max_per_hour=rule.max_per_hour,
        levels=tuple(
            LevelSpec(level.level, timedelta(minutes=level.delay_minutes))
            for level in sorted(rule.levels.all(), key=lambda x: x.level)
        ),
    )


def station_views() -> list[StationView]:
    """Every enabled station with a live status, in one query."""
    rows = LiveStatus.objects.filter(station__disabled=False).values_list(
        "station_id",
        "station__name",
        "station__workshop",
        "station__dnc_group",
        "station__mdc_groups",
        "state_cwork_id",
        "state__name",
        "since",
        "alarms",
        "missing_since",
    )
    views = []
    for sid, name, workshop, dnc, mdc, state, state_name, since, alarms, missing in rows:
        groups = {g for g in (mdc or []) if g}
        if dnc:
            groups.add(dnc)
        views.append(
            StationView(
                id=sid,
                name=name,
                workshop=workshop,
                groups=frozenset(groups),
                state_cwork_id=state,
                state_name=state_name or (str(state) if state is not None else ""),
                since=since,
                alarms=decode_alarms(alarms, station_id=sid),
                missing_since=missing,
            )
        )
    return views


# --- the conditions ---------------------------------------------------------------------------


def check(rule: RuleSpec, station: StationView, context: Context) -> Hit | None:
    """Whether ``rule``'s condition holds for ``station`` now."""
    now = context.now
    if rule.condition == Condition.NOT_REPORTING:
        if station.missing_since is None:
            return None
        return Hit(station.missing_since, _("not reporting to CWork"))
    if station.missing_since is not None:
        # Its last status is stale: only "not reporting" may be said of it.
        return None
    if rule.condition == Condition.STATE:
        if station.state_cwork_id not in rule.state_ids:
            return None
        return Hit(station.since or now, _("in state %(state)s") % {"state": station.state_name})
    if rule.condition == Condition.STOP:
        bucket = bucket_of(context.buckets, station.state_cwork_id)
        if bucket == Bucket.PRODUCTION:
            return None
        if rule.stop_category not in ("any", "") and bucket.value != rule.stop_category:
            return None
        return Hit(station.since or now, _("stopped: %(state)s") % {"state": station.state_name})
    if rule.condition == Condition.ALARM:
        return _alarm_hit(rule, station, now)
    if rule.condition == Condition.BEHIND_PACE:
        return _pace_hit(rule, context.figures.get(station.id), now)
    return None


def _alarm_hit(rule: RuleSpec, station: StationView, now: datetime) -> Hit | None:
    matching = [
        alarm
        for alarm in station.alarms
        if (not rule.alarm_code or alarm.code.casefold() == rule.alarm_code.casefold())
        and (rule.alarm_pattern is None or rule.alarm_pattern.search(alarm.message))
    ]
    if not matching:
        return None
    oldest = min(matching, key=lambda a: a.start)
    text = f"{oldest.code} {oldest.message}".strip()
    return Hit(oldest.start, _("alarm %(alarm)s") % {"alarm": text})


def _pace_hit(rule: RuleSpec, figures: ShiftFigures | None, now: datetime) -> Hit | None:
    """Behind pace: the parts made in the running shift against what the ideal cycle time
    allows in its required time so far (availability × performance), short by more than the
    threshold."""
    if figures is None or figures.availability is None or figures.performance is None:
        return None
    pace = figures.availability * figures.performance
    threshold = (rule.threshold_percent or 0) / 100
    if pace >= 1 - threshold:
        return None
    behind = round((1 - pace) * 100)
    return Hit(now, _("%(percent)s %% behind pace this shift") % {"percent": behind})


def in_active_shift(rule: RuleSpec, station: StationView, context: Context) -> bool:
    if not rule.shifts:
        return True
    assert context.calendars is not None
    spec = context.calendars.for_workshop(station.workshop)
    occurrence = shift_at(spec, context.now)
    return occurrence is not None and (spec.name, occurrence.name) in rule.shifts


# --- the evaluation ---------------------------------------------------------------------------


@dataclass(slots=True)
class Evaluation:
    """What one evaluation did, for the poll's log and the tests."""

    pending: int = 0
    fired: int = 0
    suppressed: int = 0
    escalated: int = 0
    resolved: int = 0
    dropped: int = 0
    messages: int = 0
    duration: float = 0.0

    @property
    def told(self) -> bool:
        """Whether anything worth a log line happened (not a mere pending condition)."""
        return bool(self.fired or self.suppressed or self.escalated or self.resolved)


#: Bumped in the shared cache whenever a rule or its levels change (``rules_changed``): every
#: process then reads the rules again, and reads nothing while none is enabled and no alert is
#: open (the cost of alerts to a poll in a plant that has none: one cache read).
RULES_GENERATION_KEY = "alerts:rules:generation"


@dataclass(slots=True)
class _Rules:
    rules: list[RuleSpec]
    #: No rule and no open alert at the last evaluation of this generation.
    idle: bool = False


#: The rules of the shared cache's generation.
_rules: Memo[_Rules] = Memo("alerts.engine.rules")
#: What rules need besides the live status, read again at most once per SLOW_CACHE_SECONDS.
_buckets: Memo[dict[int, Bucket]] = Memo("alerts.engine.buckets", ttl=SLOW_CACHE_SECONDS)
_calendars: Memo[Calendars] = Memo("alerts.engine.calendars", ttl=SLOW_CACHE_SECONDS)


def rules_changed() -> None:
    """Every process reads its rules again at its next evaluation (the pages and the admin
    edit them; the worker evaluates)."""
    cache.set(RULES_GENERATION_KEY, time.time_ns(), None)
    _buckets.clear()
    _calendars.clear()


def forget_cached() -> None:
    """Rules, buckets and calendars are read again at the next evaluation."""
    rules_changed()


def _current_rules() -> _Rules:
    """The enabled live rules, and whether the last evaluation found nothing to do."""
    generation = cache.get(RULES_GENERATION_KEY)
    if generation is None:  # a cache that was emptied: start a generation
        cache.add(RULES_GENERATION_KEY, time.time_ns(), None)
        generation = cache.get(RULES_GENERATION_KEY)
    if generation is None:  # a cache that keeps nothing: no generation to agree on
        return _Rules(load_rules())
    return _rules.get(lambda: _Rules(load_rules()), key=generation)


def evaluate(now: datetime | None = None) -> Evaluation:
    """Check every enabled live rule against every station in its scope."""
    started = time.monotonic()
    now = now or timezone.now()
    result = Evaluation()
    current = _current_rules()
    rules = current.rules
    if current.idle:
        return result
    open_alerts = {
        (a.rule_id, a.station_id): a
        for a in Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(
            rule__condition__in=LIVE_CONDITIONS
        )
    }
    if not rules and not open_alerts:
        current.idle = True
        return result
    context = Context(now)
    conditions = {r.condition for r in rules}
    if Condition.STOP in conditions:
        context.buckets = _buckets.get(state_buckets)
    if Condition.BEHIND_PACE in conditions:
        context.figures = cached_figures() or {}
    if any(r.shifts for r in rules):
        context.calendars = _calendars.get(Calendars)
    stations = station_views() if rules else []
    for rule in rules:
        for station in stations:
            if not rule.covers(station):
                continue
            alert = open_alerts.pop((rule.id, station.id), None)
            hit = check(rule, station, context)
            if hit is None:
                if alert is not None:
                    _clear(alert, now, result)
                continue
            active = in_active_shift(rule, station, context)
            if alert is None:
                if not active:
                    continue
                alert = _open(rule, station.id, hit, result)
                if alert is None:
                    continue
            _advance(rule, alert, hit, active, now, result)
    # Open alerts no rule looked at: their rule is disabled or deleted, or the station left
    # the scope or was disabled. They end without a message (nothing was resolved).
    for alert in open_alerts.values():
        _clear(alert, now, result, tell=False)
    result.duration = time.monotonic() - started
    return result


def after_poll(sender: Any, *, kind: str, now: datetime, **_kwargs: Any) -> None:
    """``poll_committed``'s receiver: the rules, right after the live data they read (a
    failure never fails the poll)."""
    if kind != SyncKind.LIVE:
        return
    try:
        evaluation = evaluate(now)
    except Exception:
        logger.exception("evaluating the alert rules failed")
        return
    if evaluation.told:
        logger.info(
            "alerts: %d fired, %d escalated, %d resolved, %d not sent (rate limit)",
            evaluation.fired,
            evaluation.escalated,
            evaluation.resolved,
            evaluation.suppressed,
        )


def _open(rule: RuleSpec, station_id: int, hit: Hit, result: Evaluation) -> Alert | None:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule_id=rule.id,
                station_id=station_id,
                status=Alert.Status.PENDING,
                since=hit.since,
                summary=hit.summary[:500],
            )
    except IntegrityError:  # another process opened it in the meantime: its alert
        return None
    result.pending += 1
    return alert


def _advance(
    rule: RuleSpec, alert: Alert, hit: Hit, active: bool, now: datetime, result: Evaluation
) -> None:
    if alert.status == Alert.Status.PENDING:
        since = min(alert.since, hit.since)
        if since != alert.since:
            alert.since = since
            Alert.objects.filter(pk=alert.pk).update(since=since)
        if active and now - alert.since >= rule.hold:
            _fire(rule, alert, hit, now, result)
        return
    fired_at = alert.fired_at  # set when it fired
    if alert.suppressed or not active or fired_at is None:
        return
    due = [lv for lv in rule.levels if lv.level > alert.level and fired_at + lv.delay <= now]
    if due:
        _tell(alert, Delivery.Kind.ESCALATED, [lv.level for lv in due], now, result)
        alert.level = max(lv.level for lv in due)
        Alert.objects.filter(pk=alert.pk).update(level=alert.level)
        result.escalated += 1


def _fire(rule: RuleSpec, alert: Alert, hit: Hit, now: datetime, result: Evaluation) -> None:
    alert.status = Alert.Status.FIRING
    alert.fired_at = now
    alert.summary = hit.summary[:500]
    alert.suppressed = _rate_limited(rule, alert, now)
    due = [lv.level for lv in rule.levels if lv.delay <= timedelta(0)]
    if not alert.suppressed and due:
        alert.level = max(due)
    with transaction.atomic():
        alert.save(update_fields=["status", "fired_at", "summary", "suppressed", "level"])
        if alert.suppressed:
            result.suppressed += 1
            logger.info("alert %s on station %s not sent: rate limit", rule.name, alert.station_id)
            return
        result.fired += 1
        if due:
            _tell(alert, Delivery.Kind.FIRED, due, now, result)


def _rate_limited(rule: RuleSpec, alert: Alert, now: datetime) -> bool:
    """Quiet time per station since the last alert sent, and a ceiling per rule per hour."""
    sent = Alert.objects.filter(rule_id=rule.id, suppressed=False, fired_at__isnull=False)
    recent = sent.exclude(pk=alert.pk)
    if recent.filter(station_id=alert.station_id, fired_at__gt=now - rule.repeat).exists():
        return True
    return recent.filter(fired_at__gt=now - timedelta(hours=1)).count() >= rule.max_per_hour


def _clear(alert: Alert, now: datetime, result: Evaluation, *, tell: bool = True) -> None:
    if alert.status == Alert.Status.PENDING:
        Alert.objects.filter(pk=alert.pk).delete()
        result.dropped += 1
        return
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert.pk, status=Alert.Status.FIRING).update(
            status=Alert.Status.RESOLVED, resolved_at=now
        )
        if not updated:
            return
        alert.status, alert.resolved_at = Alert.Status.RESOLVED, now
        result.resolved += 1
        if tell and not alert.suppressed and alert.level:
            _tell(alert, Delivery.Kind.RESOLVED, range(1, alert.level + 1), now, result)


def _tell(
    alert: Alert, kind: str, levels: Iterable[int], now: datetime, result: Evaluation
) -> None:
    chosen = list(
        EscalationLevel.objects.filter(rule_id=alert.rule_id, level__in=list(levels))
        .prefetch_related("users__profile", "webhooks")
        .order_by("level")
    )
    result.messages += queue_for_alert(alert, kind, chosen, now)


def raise_event(rule: RuleSpec, station_id: int, hit: Hit, now: datetime) -> Evaluation:
    """An alert for something that happened rather than a condition that lasts (a shift's
    OEE below target when the shift ends): it fires and is over at once, so it is never
    escalated and has no "resolved" message. Rate limits apply as to the others."""
    result = Evaluation()
    alert = _open(rule, station_id, hit, result)
    if alert is None:
        return result
    _fire(rule, alert, hit, now, result)
    Alert.objects.filter(pk=alert.pk).update(status=Alert.Status.RESOLVED, resolved_at=now)
    return result
