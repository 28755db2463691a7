"""What pages and the API do with deployments: create, change (a new release each time), roll
back, disable, delete, and run predictions on them.

Every check of a configuration is here, once: the API turns a `DeploymentProblem` into a
problem+json answer, the forms into an error beside the field it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Account, User
from apps.billing.models import Hardware
from apps.catalog.models import Model, Version
from apps.deployments import capacity
from apps.deployments.models import NAME_RE, Deployment, Instance, Release
from apps.predictions.models import Prediction
from apps.predictions.services import prediction_cancel, prediction_create

HEX64 = re.compile(r"^[0-9a-f]{64}$")
CONFIG_FIELDS = ("version", "hardware", "min_instances", "max_instances")


class DeploymentProblem(Exception):
    """A request that cannot be carried out: `field` is the input it is about ('' for none)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@dataclass
class Config:
    version: Version
    hardware: Hardware
    min_instances: int
    max_instances: int

    def same_as(self, release: Release) -> bool:
        return (
            self.version.pk == release.version_id
            and self.hardware.pk == release.hardware_id
            and self.min_instances == release.min_instances
            and self.max_instances == release.max_instances
        )


def resolve_model(owner: Account, ref) -> Model:
    """The model `owner/name` if the deployment's owner may run it."""
    if not isinstance(ref, str) or ref.count("/") != 1:
        raise DeploymentProblem("model", "model must be given as owner/name.")
    model_owner, name = ref.split("/")
    for model in Model.objects.visible_to_account(owner).filter(
        owner__name__iexact=model_owner, name__iexact=name
    ):
        return model
    raise DeploymentProblem("model", f"There is no model {ref} that {owner.name} may run.")


def resolve_version(model: Model, ref) -> Version:
    """A version of `model` by its id (the 64-character digest); its latest when None."""
    if ref is None or ref == "":
        if model.latest_version_id is None:
            raise DeploymentProblem("version", f"{model.full_name} has no versions to deploy.")
        return model.latest_version
    if not isinstance(ref, str) or not HEX64.match(ref.split(":")[-1]):
        raise DeploymentProblem("version", "version must be a version id (64 hex characters).")
    version = model.versions.filter(digest=ref.split(":")[-1]).first()
    if version is None:
        raise DeploymentProblem("version", f"{model.full_name} has no version {ref}.")
    return version


def resolve_hardware(ref) -> Hardware:
    if not isinstance(ref, str) or not ref:
        raise DeploymentProblem("hardware", "hardware must be a hardware SKU, such as cpu.")
    hardware = Hardware.objects.filter(sku=ref).first()
    if hardware is None:
        known = ", ".join(Hardware.objects.values_list("sku", flat=True))
        raise DeploymentProblem("hardware", f"Unknown hardware {ref!r}; known: {known}.")
    if reason := capacity.unservable(hardware):
        raise DeploymentProblem("hardware", f"No instance can run {ref} here: {reason}")
    return hardware


def _count(field: str, value, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeploymentProblem(field, f"{field} must be a whole number from 0 to {limit}.")
    if not 0 <= value <= limit:
        raise DeploymentProblem(
            field, f"{field} must be from 0 to {limit} in this installation, not {value}."
        )
    return value


def check_config(version, hardware, min_instances, max_instances) -> Config:
    min_instances = _count("min_instances", min_instances, settings.DEPLOYMENT_MIN_INSTANCES_LIMIT)
    max_instances = _count("max_instances", max_instances, settings.DEPLOYMENT_MAX_INSTANCES_LIMIT)
    if min_instances > max_instances:
        raise DeploymentProblem(
            "min_instances",
            f"min_instances ({min_instances}) cannot be more than max_instances ({max_instances}).",
        )
    return Config(version, hardware, min_instances, max_instances)


def check_name(owner: Account, name) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DeploymentProblem(
            "name",
            "name must be lowercase letters, digits, dashes, underscores and dots, starting "
            "and ending with a letter or digit (at most 100 characters).",
        )
    if Deployment.objects.filter(owner=owner, name__iexact=name).exists():
        raise DeploymentProblem(
            "name", f"{owner.name} already has a deployment named {name}.", status=409
        )
    return name


def _release(
    deployment: Deployment,
    config: Config,
    by: Account | None,
    user: User | None,
    rolled_back_from: int | None = None,
) -> Release:
    last = deployment.releases.order_by("-number").values_list("number", flat=True).first()
    release = Release.objects.create(
        deployment=deployment,
        number=(last or 0) + 1,
        version=config.version,
        hardware=config.hardware,
        min_instances=config.min_instances,
        max_instances=config.max_instances,
        created_by=user,
        created_by_account=by,
        rolled_back_from=rolled_back_from,
    )
    deployment.current_release = release
    deployment.save(update_fields=["current_release", "updated_at"])
    return release


def deployment_create(
    *,
    owner: Account,
    name,
    model: Model,
    config: Config,
    by: Account | None = None,
    user: User | None = None,
) -> Deployment:
    name = check_name(owner, name)
    try:
        with transaction.atomic():
            deployment = Deployment.objects.create(owner=owner, name=name, model=model)
            _release(deployment, config, by, user)
    except IntegrityError:  # the same name, created at the same moment
        raise DeploymentProblem(
            "name", f"{owner.name} already has a deployment named {name}.", status=409
        ) from None
    return deployment


def deployment_update(
    deployment: Deployment, changes: dict, *, by: Account | None = None, user: User | None = None
) -> Release:
    """A new release with `changes` (any of CONFIG_FIELDS) over the current one."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise DeploymentProblem(
            "",
            "Nothing to change: send any of version, hardware, min_instances, max_instances.",
            status=400,
        )
    current = deployment.current_release
    version = (
        resolve_version(deployment.model, changes["version"])
        if "version" in changes
        else current.version
    )
    hardware = resolve_hardware(changes["hardware"]) if "hardware" in changes else current.hardware
    config = check_config(
        version,
        hardware,
        changes.get("min_instances", current.min_instances),
        changes.get("max_instances", current.max_instances),
    )
    if config.same_as(current):
        raise DeploymentProblem(
            "",
            f"Nothing to change: release {current.number} already has this configuration.",
            status=400,
        )
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        release = _release(locked, config, by, user)
    deployment.current_release = release
    if config.max_instances == 0:
        cancel_in_flight(deployment)
    return release


def deployment_rollback(
    deployment: Deployment, number: int, *, by: Account | None = None, user: User | None = None
) -> Release:
    """A new release with the configuration of release `number`."""
    old = deployment.releases.filter(number=number).select_related("version", "hardware").first()
    if old is None:
        raise DeploymentProblem("release", f"{deployment.full_name} has no release {number}.", 404)
    if reason := capacity.unservable(old.hardware):
        raise DeploymentProblem("release", f"Release {number} cannot run here: {reason}")
    config = Config(old.version, old.hardware, old.min_instances, old.max_instances)
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        release = _release(locked, config, by, user, rolled_back_from=number)
    deployment.current_release = release
    return release


def deployment_set_disabled(deployment: Deployment, disabled: bool) -> None:
    """Disabling cancels what is queued or running and stops every instance (the autoscaler
    sees the flag on its next tick); enabling lets it scale again."""
    deployment.disabled = disabled
    deployment.save(update_fields=["disabled", "updated_at"])
    if disabled:
        cancel_in_flight(deployment)


def cancel_in_flight(deployment: Deployment) -> int:
    pending = Prediction.objects.filter(
        deployment=deployment.full_name,
        status__in=[Prediction.Status.STARTING, Prediction.Status.PROCESSING],
    )
    count = 0
    for prediction in pending:
        prediction_cancel(prediction)
        count += 1
    return count


def online_instances(deployment: Deployment):
    return deployment.instances.filter(state__in=Instance.ONLINE)


def deletable_after(deployment: Deployment) -> datetime | None:
    """When the deployment may be deleted (None: now). Offline and unused for
    DEPLOYMENT_DELETE_AFTER_IDLE seconds, as on Replicate."""
    if deployment.last_prediction_at is None:
        return None
    after = deployment.last_prediction_at + timedelta(seconds=settings.DEPLOYMENT_DELETE_AFTER_IDLE)
    return after if after > timezone.now() else None


def deployment_delete(deployment: Deployment) -> None:
    if online_instances(deployment).exists():
        raise DeploymentProblem(
            "",
            f"{deployment.full_name} still has instances online: disable it (or set "
            "max_instances to 0), wait for them to stop, then delete it.",
            status=409,
        )
    if (after := deletable_after(deployment)) is not None:
        minutes = settings.DEPLOYMENT_DELETE_AFTER_IDLE // 60
        raise DeploymentProblem(
            "",
            f"{deployment.full_name} was used in the last {minutes} minutes; it can be "
            f"deleted from {after.isoformat(timespec='seconds')}.",
            status=409,
        )
    deployment.delete()


def deployment_predict(
    deployment: Deployment,
    *,
    owner: Account,
    input: dict,
    created_by: User | None = None,
    source: str = Prediction.Source.API,
    **options,
) -> Prediction:
    """A prediction on the deployment's current release, queued for its instances. Call
    inside a transaction: the message is sent on commit."""
    if deployment.is_off:
        raise DeploymentProblem(
            "",
            f"{deployment.full_name} is disabled"
            + ("" if deployment.disabled else " (its max_instances is 0)")
            + ": it takes no predictions. Enable it, or raise max_instances, first.",
            status=409,
        )
    release = deployment.current_release
    prediction = prediction_create(
        version=release.version,
        owner=owner,
        input=input,
        created_by=created_by,
        source=source,
        deployment=deployment.full_name,
        **options,
    )
    Deployment.objects.filter(pk=deployment.pk).update(last_prediction_at=prediction.created_at)
    return prediction
