"""The forms managers edit alert rules and webhooks with (``alerts.services`` saves a rule
with its escalation levels).

Everything a rule may be scoped to is chosen from what exists (stations, their workshops and
groups, the calendars' shifts): a typed name that matches no station would silently watch
nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q, QuerySet
from django.forms.formsets import DELETION_FIELD_NAME
from django.forms.models import BaseInlineFormSet, inlineformset_factory
from django.utils.translation import gettext_lazy as _

from alerts.models import (
    MAX_LEVELS,
    STOP_CATEGORIES,
    AlertRule,
    Condition,
    EscalationLevel,
    Webhook,
)
from kpis.models import Shift
from stations.models import State, Station

#: The longest wait anyone types (a week), for the rule's and the levels' minutes.
MAX_MINUTES = 7 * 24 * 60
#: Typed addresses per level.
MAX_ADDRESSES = 50
#: A URL's path segment this long may be a key: it is not shown.
TOKEN_LENGTH = 16

#: The conditions that use each field (the others are cleared when the rule is saved).
FIELD_CONDITIONS: dict[str, tuple[str, ...]] = {
    "states": (Condition.STATE,),
    "stop_category": (Condition.STOP,),
    "alarm_code": (Condition.ALARM,),
    "alarm_pattern": (Condition.ALARM,),
    "threshold_percent": (Condition.BEHIND_PACE, Condition.SHIFT_OEE),
    "minutes": tuple(c for c in Condition.values if c != Condition.SHIFT_OEE),
}


def station_workshops() -> list[str]:
    return sorted({w for w in Station.objects.values_list("workshop", flat=True) if w})


def station_groups() -> dict[str, set[str]]:
    """Every MDC and DNC group name of the stations, with the kinds it is ("MDC", "DNC")."""
    groups: dict[str, set[str]] = {}
    for dnc, mdc in Station.objects.values_list("dnc_group", "mdc_groups"):
        if dnc:
            groups.setdefault(dnc, set()).add("DNC")
        for name in mdc or []:
            if isinstance(name, str) and name:
                groups.setdefault(name, set()).add("MDC")
    return groups


def _with_current(known: list[tuple[str, str]], current: list[str]) -> list[tuple[str, str]]:
    """The values the stations have, and any the rule names that no station has any more
    (flagged, so that editing a rule never silently drops them)."""
    values = {value for value, _label in known}
    gone = [
        (name, str(_("%(name)s (no station now)") % {"name": name}))
        for name in current
        if isinstance(name, str) and name not in values
    ]
    return known + gone


class ShiftChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Shift) -> str:
        return f"{obj.calendar.name} · {obj.name} ({obj.start:%H:%M}–{obj.end:%H:%M})"


class StationChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Station) -> str:
        return f"{obj.name} · {obj.workshop}" if obj.workshop else obj.name


class RuleForm(forms.ModelForm):
    """A rule: what to watch, where, when; the fields that do not belong to the chosen
    condition are emptied on saving."""

    states = forms.ModelMultipleChoiceField(
        State.objects.none(),
        label=_("States"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    minutes = forms.IntegerField(
        label=_("For at least (minutes)"),
        min_value=0,
        max_value=MAX_MINUTES,
        initial=5,
        required=False,
        help_text=_("0: as soon as the condition holds."),
    )
    threshold_percent = forms.IntegerField(
        label=_("Threshold (%)"),
        min_value=1,
        max_value=100,
        required=False,
        help_text=_("Behind pace: by more than this percent. Shift OEE: the OEE target."),
    )
    stations = StationChoiceField(
        Station.objects.none(),
        label=_("Stations"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    workshops = forms.MultipleChoiceField(
        label=_("Workshops"), required=False, widget=forms.CheckboxSelectMultiple
    )
    groups = forms.MultipleChoiceField(
        label=_("Groups"), required=False, widget=forms.CheckboxSelectMultiple
    )
    shifts = ShiftChoiceField(
        Shift.objects.none(),
        label=_("Only during these shifts"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None: at all times."),
    )
    repeat_minutes = forms.IntegerField(
        label=_("Quiet time per station (minutes)"),
        min_value=0,
        max_value=MAX_MINUTES,
        initial=30,
        help_text=_("No new alert for the same station within this long after the last one."),
    )
    max_per_hour = forms.IntegerField(
        label=_("At most per hour"),
        min_value=1,
        max_value=1000,
        initial=20,
        help_text=_("More alerts than this in an hour are recorded, not sent."),
    )

    class Meta:
        model = AlertRule
        fields = (
            "name",
            "enabled",
            "condition",
            "states",
            "stop_category",
            "alarm_code",
            "alarm_pattern",
            "minutes",
            "threshold_percent",
            "stations",
            "workshops",
            "groups",
            "shifts",
            "repeat_minutes",
            "max_per_hour",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rule = self.instance
        fields = self.fields
        states, stations, shifts = fields["states"], fields["stations"], fields["shifts"]
        assert isinstance(states, forms.ModelMultipleChoiceField)
        assert isinstance(stations, forms.ModelMultipleChoiceField)
        assert isinstance(shifts, forms.ModelMultipleChoiceField)
        workshops, groups, condition = fields["workshops"], fields["groups"], fields["condition"]
        stop_category = fields["stop_category"]
        assert isinstance(workshops, forms.ChoiceField)
        assert isinstance(groups, forms.ChoiceField)
        assert isinstance(condition, forms.ChoiceField)
        assert isinstance(stop_category, forms.ChoiceField)
        chosen_states = list(rule.states.values_list("pk", flat=True)) if rule.pk else []
        states.queryset = State.objects.filter(
            Q(archived=False) | Q(pk__in=chosen_states)
        ).order_by("name", "cwork_id")
        stations.queryset = Station.objects.order_by("name", "cwork_id")
        shifts.queryset = Shift.objects.select_related("calendar").order_by(
            "calendar__name", "start", "name"
        )
        known_workshops = [(w, w) for w in station_workshops()]
        workshops.choices = _with_current(known_workshops, list(rule.workshops or []))
        known_groups = [
            (name, f"{name} ({' · '.join(sorted(kinds))})")
            for name, kinds in sorted(station_groups().items())
        ]
        groups.choices = _with_current(known_groups, list(rule.groups or []))
        condition.choices = Condition.choices
        fields["alarm_code"].help_text = _(
            "Exact code, any case. Leave empty to match on the message only."
        )
        stop_category.choices = [("", "—"), *STOP_CATEGORIES]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("Give the rule a name."))
        return name

    def clean_alarm_code(self) -> str:
        return self.cleaned_data.get("alarm_code", "").strip()

    def clean_alarm_pattern(self) -> str:
        pattern = self.cleaned_data.get("alarm_pattern", "").strip()
        if pattern:
            try:
                re.compile(pattern, re.IGNORECASE)
            except (re.error, OverflowError, RecursionError) as error:
                raise ValidationError(
                    _("This is not a valid regular expression: %(error)s."),
                    params={"error": error},
                    code="invalid_pattern",
                ) from None
        return pattern

    def _missing(self, condition: str, name: str) -> bool:
        """A field the condition needs, left empty (and not already wrong)."""
        return (
            condition in FIELD_CONDITIONS[name]
            and self.cleaned_data.get(name) is None
            and name not in self.errors
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        condition = data.get("condition")
        if not condition:
            return data
        if condition == Condition.STATE and not data.get("states") and "states" not in self.errors:
            self.add_error("states", _("Choose at least one state."))
        if (
            condition == Condition.STOP
            and not data.get("stop_category")
            and "stop_category" not in self.errors
        ):
            self.add_error("stop_category", _("Choose a stop category."))
        no_alarm = not (data.get("alarm_code") or data.get("alarm_pattern"))
        if condition == Condition.ALARM and no_alarm and "alarm_pattern" not in self.errors:
            self.add_error("alarm_code", _("Give an alarm code, a message pattern, or both."))
        if self._missing(condition, "threshold_percent"):
            message = (
                _("Give the OEE target, from 1 to 100 %.")
                if condition == Condition.SHIFT_OEE
                else _("Give how far behind pace, from 1 to 100 %.")
            )
            self.add_error("threshold_percent", message)
        if self._missing(condition, "minutes"):
            self.add_error("minutes", _("Give how long the condition must hold (0: at once)."))
        # What does not belong to the condition is not kept (it would mislead a reader), and
        # cannot be wrong.
        empty: dict[str, Any] = {
            "states": State.objects.none(),
            "stop_category": "",
            "alarm_code": "",
            "alarm_pattern": "",
            "threshold_percent": None,
            "minutes": 0,
        }
        for name, conditions in FIELD_CONDITIONS.items():
            if condition not in conditions:
                self.errors.pop(name, None)
                data[name] = empty[name]
        return data


class UserChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        name = obj.get_full_name() or obj.get_username()
        if not obj.email:
            return str(_("%(name)s (no e-mail address)") % {"name": name})
        return f"{name} <{obj.email}>"


class WebhookChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Webhook) -> str:
        if not obj.enabled:
            return str(_("%(name)s (disabled)") % {"name": obj.name})
        return f"{obj.name} ({obj.get_format_display()})"


def recipient_users(current: Iterable[int] = ()) -> QuerySet[Any]:
    """Active users with an e-mail address, and those a level already names (flagged)."""
    return (
        get_user_model()
        .objects.filter((Q(is_active=True) & ~Q(email="")) | Q(pk__in=list(current)))
        .order_by("username")
    )


class LevelForm(forms.ModelForm):
    """One escalation level: who is told, how long after the alert fired."""

    level = forms.TypedChoiceField(
        label=_("Level"),
        coerce=int,
        choices=[(n, str(n)) for n in range(1, MAX_LEVELS + 1)],
    )
    delay_minutes = forms.IntegerField(
        label=_("After (minutes)"),
        min_value=0,
        max_value=MAX_MINUTES,
        initial=0,
        help_text=_("From the moment the alert fires; 0: at once."),
    )
    users = UserChoiceField(
        get_user_model().objects.none(),
        label=_("Users"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    emails = forms.CharField(
        label=_("Other e-mail addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line."),
    )
    webhooks = WebhookChoiceField(
        Webhook.objects.none(),
        label=_("Webhooks"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = EscalationLevel
        fields = ("level", "delay_minutes", "users", "emails", "webhooks")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = list(self.instance.users.values_list("pk", flat=True)) if self.instance.pk else []
        users, webhooks = self.fields["users"], self.fields["webhooks"]
        assert isinstance(users, forms.ModelMultipleChoiceField)
        assert isinstance(webhooks, forms.ModelMultipleChoiceField)
        users.queryset = recipient_users(current)
        webhooks.queryset = Webhook.objects.order_by("name")

    def clean_users(self) -> list[Any]:
        users = list(self.cleaned_data.get("users") or [])
        unreachable = [u.get_username() for u in users if not u.email or not u.is_active]
        if unreachable:
            raise ValidationError(
                _("These users cannot be told (no e-mail address or inactive): %(names)s."),
                params={"names": ", ".join(unreachable)},
            )
        return users

    def clean_emails(self) -> str:
        lines = [line.strip() for line in self.cleaned_data.get("emails", "").splitlines()]
        addresses = [line for line in lines if line]
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError(
                _("Not e-mail addresses: %(addresses)s (one address per line)."),
                params={"addresses": ", ".join(bad[:10])},
            )
        if len(addresses) > MAX_ADDRESSES:
            raise ValidationError(
                _("At most %(max)s addresses per level."), params={"max": MAX_ADDRESSES}
            )
        return "\n".join(dict.fromkeys(addresses))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if any(name in self.errors for name in ("users", "emails", "webhooks")):
            return data
        hooks = [hook for hook in data.get("webhooks") or [] if hook.enabled]
        if not (data.get("users") or data.get("emails") or hooks):
            raise ValidationError(
                _(
                    "Level %(level)s tells no one: choose a user, type an address "
                    "or choose an enabled webhook."
                ),
                params={"level": data.get("level") or "?"},
                code="no_recipient",
            )
        return data


class BaseLevelFormSet(BaseInlineFormSet):
    """Up to three levels: numbered once each, the later ones not sooner than the earlier."""

    def clean(self) -> None:
        kept = [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not form.cleaned_data.get(DELETION_FIELD_NAME, False)
        ]
        numbers = [form.cleaned_data.get("level") for form in kept]
        if None in numbers:
            return
        if len(set(numbers)) != len(numbers):
            raise ValidationError(_("Each level number may be used once."), code="duplicate_level")
        ordered = sorted(kept, key=lambda form: form.cleaned_data["level"])
        for earlier, later in itertools.pairwise(ordered):
            if later.cleaned_data["delay_minutes"] < earlier.cleaned_data["delay_minutes"]:
                raise ValidationError(
                    _(
                        "Level %(later)s comes after %(later_delay)s min, sooner than level "
                        "%(earlier)s (%(earlier_delay)s min): a later level must not come "
                        "sooner."
                    ),
                    params={
                        "later": later.cleaned_data["level"],
                        "later_delay": later.cleaned_data["delay_minutes"],
                        "earlier": earlier.cleaned_data["level"],
                        "earlier_delay": earlier.cleaned_data["delay_minutes"],
                    },
                    code="delay_order",
                )


if TYPE_CHECKING:
    #: The levels' formset as django-stubs types the factory's class (a BaseLevelFormSet).
    LevelFormSet: TypeAlias = BaseInlineFormSet[EscalationLevel, AlertRule, LevelForm]


def level_formset(rule: AlertRule, data: Any = None) -> LevelFormSet:
    """The levels of ``rule`` and empty rows up to three, numbered in order."""
    existing = rule.levels.count() if rule.pk else 0
    extra = max(0, MAX_LEVELS - existing)
    factory = inlineformset_factory(
        AlertRule,
        EscalationLevel,
        form=LevelForm,
        formset=BaseLevelFormSet,
        extra=extra,
        max_num=MAX_LEVELS,
        validate_max=True,
        absolute_max=MAX_LEVELS,
        can_delete=True,
    )
    used = set(rule.levels.values_list("level", flat=True)) if rule.pk else set()
    free = [n for n in range(1, MAX_LEVELS + 1) if n not in used]
    initial = [{"level": n, "delay_minutes": 15 * (n - 1)} for n in free][:extra]
    return factory(
        data,
        instance=rule,
        prefix="levels",
        initial=initial,
        queryset=rule.levels.order_by("level") if rule.pk else EscalationLevel.objects.none(),
    )


def masked_url(url: str) -> str:
    """A webhook's URL without what may hold a token: its credentials, its query string and
    any long path segment (Slack's and Teams' URLs carry their key in the path)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "…"
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    path = "/".join(
        "…" if len(segment) >= TOKEN_LENGTH else segment for segment in parts.path.split("/")
    )
    return urlunsplit((parts.scheme, host, path, "…" if parts.query else "", ""))


class WebhookForm(forms.ModelForm):
    """A webhook; its secret and URL are never sent back to the browser (blank keeps them)."""

    url = forms.URLField(
        label=_("URL"),
        max_length=1000,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
    )
    secret = forms.CharField(
        label=_("Signing secret"),
        max_length=200,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Signs each request (HMAC-SHA256 of the body, header X-Signature-256)."),
    )
    clear_secret = forms.BooleanField(label=_("Remove the secret"), required=False)

    class Meta:
        model = Webhook
        fields = ("name", "url", "format", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept_secret = self.instance.secret
        self.initial["url"] = ""
        self.initial.pop("secret", None)
        if self.instance.pk:
            self.fields["url"].help_text = _(
                "Now: %(url)s (the hidden parts are kept). Leave blank to keep it; type a new "
                "one to replace it."
            ) % {"url": masked_url(self.instance.url)}
            self.fields["secret"].help_text = (
                _("A secret is set. Leave blank to keep it; type a new one to replace it.")
                if self.instance.secret
                else _("No secret set. Signs each request (HMAC-SHA256, header X-Signature-256).")
            )
        else:
            self.fields["url"].required = True
            del self.fields["clear_secret"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("Give the webhook a name."))
        return name

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url") or ""
        if not url and self.instance.pk:
            return self.instance.url
        if url and urlsplit(url).scheme not in ("http", "https"):
            raise ValidationError(_("Give an http or https address."))
        return url

    def save(self, commit: bool = True) -> Webhook:
        hook = super().save(commit=False)
        secret = self.cleaned_data.get("secret") or ""
        if secret:
            hook.secret = secret
        elif self.cleaned_data.get("clear_secret"):
            hook.secret = ""
        else:
            hook.secret = self.kept_secret
        if commit:
            hook.save()
        return hook
