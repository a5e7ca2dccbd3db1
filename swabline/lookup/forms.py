"""The look-up form: one box for the code, CCCD or phone, and three number boxes for
the date of birth (they work on every phone, unlike date pickers on cheap ones)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from swabline.lookup.identifiers import Birth, Identifier, parse_birth, parse_identifier

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _number(
    label: StrOrPromise, placeholder: StrOrPromise, low: int, high: int
) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        widget=forms.NumberInput(
            attrs={"inputmode": "numeric", "placeholder": placeholder, "autocomplete": "off"}
        ),
        error_messages={
            "invalid": _("Write a number."),
            "min_value": _("This number is too small."),
            "max_value": _("This number is too big."),
        },
    )


class LookupForm(forms.Form):
    identifier = forms.CharField(
        label=_("Personal code, CCCD or phone number"),
        max_length=40,
        required=False,
        help_text=_("The code printed under your QR (e.g. K7M2-P9QX), your CCCD or your phone."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    day = _number(_("Day"), _("dd"), 1, 31)
    month = _number(_("Month"), _("mm"), 1, 12)
    year = _number(_("Year"), _("yyyy"), 1, 9999)

    def clean_identifier(self) -> Identifier:
        return parse_identifier(self.cleaned_data.get("identifier") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not {"day", "month", "year"} & set(self.errors):
            try:
                data["birth"] = parse_birth(data.get("day"), data.get("month"), data.get("year"))
            except ValidationError as exc:
                self.add_error("year" if exc.code in ("year", "year_required") else "day", exc)
        return data

    @property
    def identity(self) -> tuple[Identifier, Birth]:
        return self.cleaned_data["identifier"], self.cleaned_data["birth"]
