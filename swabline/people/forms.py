"""Registration forms: one household on one screen (the first member may be alone)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from swabline.people import identity
from swabline.people.enums import Sex, Symptom
from swabline.people.services import MembersInvalid, PersonInput
from swabline.places.enums import Level, System
from swabline.places.models import Place

MAX_MEMBERS = 12


class MemberForm(forms.Form):
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "name", "autocapitalize": "words"}),
    )
    birth = forms.CharField(
        label=_("Date of birth"),
        help_text=_("dd/mm/yyyy, or the year alone"),
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "15/08/1961"}),
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices, widget=forms.RadioSelect)
    phone = forms.CharField(
        label=_("Own phone (if different)"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    email = forms.CharField(
        label=_("E-mail (optional)"),
        help_text=_("Results are also sent here."),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )
    national_id = forms.CharField(
        label=_("CCCD (optional)"),
        required=False,
        max_length=14,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    symptoms = forms.MultipleChoiceField(
        label=_("Symptoms in the last 14 days"),
        choices=Symptom.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    contact_with_case = forms.BooleanField(label=_("Close contact with a case"), required=False)
    recent_travel = forms.BooleanField(label=_("Travelled outside the province"), required=False)

    # The identity rules run here too, so every field's error shows at once; the
    # service applies them again (they are idempotent) and keeps the raw values.
    def clean_full_name(self) -> str:
        return identity.clean_name(self.cleaned_data["full_name"])

    def clean_birth(self) -> str:
        identity.clean_birth(self.cleaned_data["birth"])
        return str(self.cleaned_data["birth"])

    def clean_phone(self) -> str:
        return identity.clean_phone(self.cleaned_data["phone"])

    def clean_national_id(self) -> str:
        return identity.clean_cccd(self.cleaned_data["national_id"]) or ""

    def clean_email(self) -> str:
        return identity.clean_email(self.cleaned_data["email"])


class BaseMemberFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        if not [f for f in self.forms if f.cleaned_data]:
            raise ValidationError(_("Add at least one person."))


MemberFormSet = forms.formset_factory(
    MemberForm,
    formset=BaseMemberFormSet,
    extra=0,
    min_num=1,
    max_num=MAX_MEMBERS,
    validate_max=True,
)


class HouseholdForm(forms.Form):
    """Where the household lives and the phone that reaches it."""

    phone = forms.CharField(
        label=_("Phone"),
        help_text=_("A family can share one phone."),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    ward = forms.CharField(
        label=_("Ward (phường/xã)"),
        max_length=10,
        widget=forms.HiddenInput,
        error_messages={"required": _("Choose your ward from the list.")},
    )
    address = forms.CharField(
        label=_("House number, street, hamlet"),
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )

    def __init__(self, *args: Any, allowed_paths: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allowed_paths = allowed_paths

    def clean_phone(self) -> str:
        return identity.clean_phone(self.cleaned_data["phone"], required=True)

    def clean_ward(self) -> Place:
        code = self.cleaned_data["ward"]
        place = Place.objects.filter(system=System.CURRENT, level=Level.WARD, code=code).first()
        if place is None:
            raise ValidationError(_("Choose your ward from the list."))
        if self.allowed_paths is not None and not any(
            place.path.startswith(p) for p in self.allowed_paths
        ):
            raise ValidationError(_("You may register people only in your own area."))
        return place


def member_inputs(household: HouseholdForm, members: Any) -> list[PersonInput]:
    """PersonInputs from valid forms; members without a phone share the household's."""
    ward = household.cleaned_data["ward"]
    inputs = []
    for form in members.forms:
        data = form.cleaned_data
        if not data:
            continue
        inputs.append(
            PersonInput(
                full_name=data["full_name"],
                birth=data["birth"],
                sex=data["sex"],
                ward=ward,
                phone=data["phone"] or household.cleaned_data["phone"],
                national_id=data["national_id"],
                email=data.get("email", ""),
                address=household.cleaned_data["address"],
                symptoms=list(data["symptoms"]),
                contact_with_case=data["contact_with_case"],
                recent_travel=data["recent_travel"],
            )
        )
    return inputs


def attach_service_errors(exc: MembersInvalid, household: HouseholdForm, members: Any) -> None:
    """Put the service's per-member, per-field errors back on the fields that caused them."""
    filled = [f for f in members.forms if f.cleaned_data]
    for index, fields in exc.by_member.items():
        form = filled[index]
        for name, messages in fields.items():
            for message in messages:
                if name == "phone" and not form.cleaned_data.get("phone"):
                    household.add_error("phone", message)
                elif name == "ward":
                    household.add_error(None, message)
                elif name in form.fields:
                    form.add_error(name, message)
                else:
                    form.add_error(None, message)
