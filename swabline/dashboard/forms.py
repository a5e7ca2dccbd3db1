from __future__ import annotations

from django import forms

from swabline.dashboard.models import AlarmThresholds
from swabline.dashboard.services import THRESHOLD_FIELDS


class ThresholdsForm(forms.ModelForm[AlarmThresholds]):
    class Meta:
        model = AlarmThresholds
        fields = list(THRESHOLD_FIELDS)
        widgets = {f: forms.NumberInput(attrs={"min": 1, "step": 1}) for f in THRESHOLD_FIELDS}
