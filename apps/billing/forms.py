from __future__ import annotations

from decimal import Decimal

from django import forms

MAX_LIMIT = Decimal("1000000000")


class SpendLimitForm(forms.Form):
    spend_limit = forms.DecimalField(
        label="Monthly spend limit (USD)",
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal(0),
        max_value=MAX_LIMIT,
        help_text="Empty: the installation's default. New predictions, trainings and "
        "deployment instances are refused once this month's spend reaches it.",
        error_messages={
            "invalid": "Enter an amount in dollars, like 25 or 12.50.",
            "min_value": "A spend limit cannot be negative.",
            "max_value": "Enter at most $1,000,000,000.",
            "max_decimal_places": "Enter the amount to the cent (at most 2 decimal places).",
            "max_digits": "Enter at most $1,000,000,000.",
        },
    )


class UsageFilterForm(forms.Form):
    """The usage page's filters; the range is checked by usage.parse_range."""

    start = forms.CharField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.CharField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(
        required=False,
        label="Stack by",
        choices=[("model", "Model"), ("hardware", "Hardware"), ("deployment", "Deployment")],
    )
    model = forms.ChoiceField(required=False, label="Model")
    deployment = forms.ChoiceField(required=False, label="Deployment")

    def __init__(self, *args, models=(), deployments=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "All models")] + [(m, m) for m in models]
        self.fields["deployment"].choices = [("", "All deployments")] + [
            (d, d) for d in deployments
        ]
