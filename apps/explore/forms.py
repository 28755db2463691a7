from __future__ import annotations

from django import forms

from apps.catalog.models import Model
from apps.predictions.models import Prediction

# "Api" is what the choices would say by themselves.
SOURCE_LABELS = {Prediction.Source.API: "API", Prediction.Source.WEB: "Web"}


class PredictionFilterForm(forms.Form):
    """The dashboard's filters. Invalid values are ignored rather than refused."""

    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Prediction.Status.choices]
    )
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *SOURCE_LABELS.items()])
    model = forms.ChoiceField(required=False, label="Model")

    def __init__(self, *args, models: list[Model], **kwargs):
        super().__init__(*args, **kwargs)
        self.models = {model.full_name: model for model in models}
        self.fields["model"].choices = [("", "Any model")] + [
            (full_name, full_name) for full_name in self.models
        ]

    def filter(self, predictions):
        self.is_valid()  # cleaned_data keeps the fields that are valid on their own
        data = self.cleaned_data
        if data.get("status"):
            predictions = predictions.filter(status=data["status"])
        if data.get("source"):
            predictions = predictions.filter(source=data["source"])
        if data.get("model"):
            predictions = predictions.filter(model=self.models[data["model"]])
        return predictions

    @property
    def is_filtering(self) -> bool:
        return any(getattr(self, "cleaned_data", {}).get(name) for name in self.fields)
