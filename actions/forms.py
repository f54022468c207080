"""What a supervisor may send to CWork, checked before anything is sent.

The forms are the rules (``actions.services`` validates with them, pages or not); the station
page renders its own controls from the same fields.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Action
from stations.models import LiveStatus, State, Station

COMMENT_MAX_LENGTH = 500
PART_COUNT_MAX = 1_000_000


class StateField(forms.IntegerField):
    """A state's CWork id that our catalogue knows and that is not archived."""

    default_error_messages: ClassVar[dict] = {
        "invalid": _("Choose a reason from the list."),
        "unknown": _("This reason no longer exists: reload the page and choose another."),
        "archived": _("This reason is archived: choose another."),
    }

    def validate(self, value):
        super().validate(value)
        if value in self.empty_values:
            return
        state = State.objects.filter(cwork_id=value).only("archived").first()
        if state is None:
            raise forms.ValidationError(self.error_messages["unknown"], code="unknown")
        if state.archived:
            raise forms.ValidationError(self.error_messages["archived"], code="archived")


class ActionForm(forms.Form):
    """An action's values; ``station`` (when given) is the one it is for."""

    def __init__(self, *args, station: Station | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.station = station

    def values(self) -> dict[str, Any]:
        """What is sent to CWork, once the form is valid."""
        raise NotImplementedError


class ChangeStateForm(ActionForm):
    state = StateField(
        label=_("Reason"), error_messages={"required": _("Choose a reason from the list.")}
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def values(self) -> dict[str, Any]:
        """What is sent: the comment only when one was typed (CWork's rules differ)."""
        values: dict[str, Any] = {"state": self.cleaned_data["state"]}
        if self.cleaned_data.get("comment"):
            values["comment"] = self.cleaned_data["comment"]
        return values


class ReplaceStateForm(ChangeStateForm):
    pass


class ForceAutoForm(ActionForm):
    def values(self) -> dict[str, Any]:
        return {}


class ResetPartsForm(ActionForm):
    """A count above the station's part target is sent only once confirmed: ``confirm``
    carries the count confirmed, so changing the count after confirming asks again."""

    part_count = forms.IntegerField(
        label=_("New initial count"),
        min_value=0,
        max_value=PART_COUNT_MAX,
        error_messages={
            "required": _("Type the new initial count."),
            "invalid": _("The count must be a whole number."),
        },
    )
    confirm = forms.IntegerField(
        label=_("Count confirmed above the target"), required=False, widget=forms.HiddenInput
    )

    def target(self) -> int | None:
        """The station's part target as last read from CWork; None when it has none."""
        if self.station is None:
            return None
        target = (
            LiveStatus.objects.filter(station=self.station)
            .values_list("part_target", flat=True)
            .first()
        )
        return target or None

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        count, target = data.get("part_count"), self.target()
        above = count is not None and target is not None and count > target
        if above and data.get("confirm") != count:
            self.add_error(
                "confirm",
                forms.ValidationError(
                    _(
                        "%(count)s is above this station's target of %(target)s parts. "
                        "Send it only if it is right."
                    ),
                    code="above_target",
                    params={"count": count, "target": target},
                ),
            )
        return data

    def values(self) -> dict[str, Any]:
        return {"part_count": self.cleaned_data["part_count"]}


FORMS: dict[Action, type[ActionForm]] = {
    Action.CHANGE_STATE: ChangeStateForm,
    Action.REPLACE_STATE: ReplaceStateForm,
    Action.FORCE_AUTO: ForceAutoForm,
    Action.RESET_PARTS: ResetPartsForm,
}
