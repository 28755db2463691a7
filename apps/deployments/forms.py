"""The forms of the deployment pages. They only shape the input: every check of a name, a
model, a version, hardware and instance counts is the services' (a `DeploymentProblem`), and
`add_problem` puts each one beside the field it names."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings

from apps.accounts.models import Account
from apps.billing.limits import money
from apps.billing.models import Hardware
from apps.catalog.models import Model
from apps.deployments import capacity
from apps.deployments.services import DeploymentProblem

VERSIONS_OFFERED = 50


def hardware_choices() -> list[tuple[str, str]]:
    choices = []
    for hardware in Hardware.objects.all():
        label = f"{hardware.name} ({hardware.sku}) · {money(hardware.price_per_hour)}/hour"
        if capacity.unservable(hardware):
            label += " · cannot run on this installation"
        choices.append((hardware.sku, label))
    return choices


@dataclass(frozen=True)
class Estimate:
    hardware: Hardware
    min_instances: int
    max_instances: int

    @property
    def per_instance(self) -> str:
        return money(self.hardware.price_per_hour)

    @property
    def at_min(self) -> str:
        return money(self.hardware.price_per_hour * self.min_instances)

    @property
    def at_max(self) -> str:
        return money(self.hardware.price_per_hour * self.max_instances)


def estimate(sku, min_instances, max_instances) -> Estimate | None:
    """What the chosen hardware costs per hour at min and at max, if the values make sense."""
    hardware = Hardware.objects.filter(sku=sku).first() if isinstance(sku, str) and sku else None
    try:
        low, high = int(min_instances), int(max_instances)
    except (TypeError, ValueError):
        return None
    if hardware is None or low < 0 or high < 0:
        return None
    return Estimate(hardware, low, high)


def add_problem(form: forms.Form, problem: DeploymentProblem) -> None:
    """The service's message beside the field it is about; a form-wide error otherwise."""
    form.add_error(problem.field if problem.field in form.fields else None, problem.message)


def _count_field(label: str, limit: int, help_text: str) -> forms.IntegerField:
    # No bounds here: the services check them (with the installation's limits in the message).
    widget = forms.NumberInput(attrs={"min": 0, "max": limit, "step": 1, "class": "count"})
    return forms.IntegerField(label=label, widget=widget, help_text=help_text)


class ConfigFields(forms.Form):
    """Hardware and instance counts, as both forms ask for them."""

    hardware = forms.CharField(widget=forms.Select, label="Hardware")
    min_instances = _count_field(
        "Minimum instances",
        settings.DEPLOYMENT_MIN_INSTANCES_LIMIT,
        "Kept running even without work (0: scale to zero when idle).",
    )
    max_instances = _count_field(
        "Maximum instances",
        settings.DEPLOYMENT_MAX_INSTANCES_LIMIT,
        "The most it scales up to under load (0: takes no predictions).",
    )

    def __init__(self, *args, **kwargs) -> None:
        # Ids of their own: the Run form on the same page has fields named after model inputs.
        kwargs.setdefault("auto_id", "deploy_%s")
        super().__init__(*args, **kwargs)
        self.fields["hardware"].widget.choices = hardware_choices()

    def estimate(self) -> Estimate | None:
        values = self.data if self.is_bound else self.initial
        return estimate(
            values.get("hardware"), values.get("min_instances"), values.get("max_instances")
        )


class DeploymentCreateForm(ConfigFields):
    owner = forms.ChoiceField(label="Owner")
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="Lowercase letters, digits, dashes, underscores and dots.",
    )
    model = forms.CharField(
        label="Model",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "owner/name", "spellcheck": "false"}),
        help_text="The model to deploy, as owner/name.",
    )
    version = forms.CharField(
        label="Version",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "latest", "spellcheck": "false"}),
        help_text="A version id (64 hex characters); empty for the model's latest version.",
    )

    field_order = [
        "owner",
        "name",
        "model",
        "version",
        "hardware",
        "min_instances",
        "max_instances",
    ]

    def __init__(self, *args, accounts: list[Account], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.accounts = {account.name: account for account in accounts}
        self.fields["owner"].choices = [(name, name) for name in self.accounts]

    @property
    def owner_account(self) -> Account:
        return self.accounts[self.cleaned_data["owner"]]


class DeploymentSettingsForm(ConfigFields):
    """A new release: another version, hardware or instance counts."""

    version = forms.CharField(widget=forms.Select, label="Version")

    field_order = ["version", "hardware", "min_instances", "max_instances"]

    def __init__(self, *args, model: Model, current_digest: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        versions = list(
            model.versions.order_by("-created_at", "-pk").values_list("digest", "created_at")[
                :VERSIONS_OFFERED
            ]
        )
        if current_digest not in {digest for digest, _ in versions}:
            versions.append((current_digest, None))
        latest = model.latest_version.digest if model.latest_version_id else ""
        self.fields["version"].widget.choices = [
            (
                digest,
                f"{digest[:12]}"
                + (f" · pushed {created:%Y-%m-%d %H:%M}" if created else "")
                + (" · latest" if digest == latest else "")
                + (" · current" if digest == current_digest else ""),
            )
            for digest, created in versions
        ]
