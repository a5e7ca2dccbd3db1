"""Forms of the lab pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from swabline.labs.enums import ResultValue
from swabline.labs.services import MAX_ALARM_HOURS
from swabline.labs.uploads import Mapping, parse_words, words_text


class UploadForm(forms.Form):
    file = forms.FileField(label=_("Results file (CSV or Excel .xlsx)"))


class MappingForm(forms.Form):
    """Which column is which, and which words mean each result."""

    tube_code = forms.ChoiceField(label=_("Tube code column"))
    result = forms.ChoiceField(label=_("Result column"))
    well = forms.ChoiceField(label=_("Well column"), required=False)
    run_id = forms.ChoiceField(label=_("Run column"), required=False)
    ct_columns = forms.MultipleChoiceField(
        label=_("Ct columns (one per target gene)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    negative = forms.CharField(label=_("Words meaning negative"), help_text=_("Separate with ;"))
    positive = forms.CharField(label=_("Words meaning positive"), help_text=_("Separate with ;"))
    invalid = forms.CharField(label=_("Words meaning invalid"), help_text=_("Separate with ;"))

    def __init__(self, *args: Any, header: list[str], mapping: Mapping, **kwargs: Any) -> None:
        cols = mapping.columns
        initial = {
            "tube_code": cols.get("tube_code", ""),
            "result": cols.get("result", ""),
            "well": cols.get("well", ""),
            "run_id": cols.get("run_id", ""),
            "ct_columns": list(cols.get("ct", {}).values()),
            **{v: words_text(mapping.values.get(v, [])) for v in ResultValue.values},
        }
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        names: list[tuple[str, Any]] = [(h, h) for h in header if h]
        none: list[tuple[str, Any]] = [("", _("(none)"))]
        for name, choices in (
            ("tube_code", names),
            ("result", names),
            ("well", none + names),
            ("run_id", none + names),
            ("ct_columns", names),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = choices

    def mapping(self) -> Mapping:
        from swabline.labs.uploads import ct_target

        data = self.cleaned_data
        ct = {(ct_target(name) or name)[:20]: name for name in data["ct_columns"]}
        columns: dict[str, Any] = {
            "tube_code": data["tube_code"],
            "result": data["result"],
            "ct": ct,
        }
        for key in ("well", "run_id"):
            if data[key]:
                columns[key] = data[key]
        values = {v: parse_words(data[v]) for v in ResultValue.values}
        return Mapping(columns, values)


class AlarmForm(forms.Form):
    warning_hours = forms.IntegerField(
        label=_("Warning after (hours waiting)"), min_value=1, max_value=MAX_ALARM_HOURS
    )
    alarm_hours = forms.IntegerField(
        label=_("Alarm after (hours waiting)"), min_value=1, max_value=MAX_ALARM_HOURS
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        warning, alarm = data.get("warning_hours"), data.get("alarm_hours")
        if warning and alarm and warning >= alarm:
            raise forms.ValidationError(_("The warning must come before the alarm."))
        return data


class CorrectionForm(forms.Form):
    value = forms.ChoiceField(label=_("Corrected result"), choices=ResultValue.choices)
    reason = forms.CharField(
        label=_("Reason for the correction"), max_length=500, widget=forms.Textarea({"rows": 3})
    )
