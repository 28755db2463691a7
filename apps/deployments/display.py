"""What the deployment pages show about a deployment: its state in words, its instances and
backlog right now, and its releases with what each one changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from apps.deployments.models import Deployment, Instance, Release
from apps.predictions.models import Prediction

RELEASES_SHOWN = 50
STOPPED_SHOWN = 5
RECENTLY = timedelta(hours=1)


@dataclass(frozen=True)
class State:
    key: str  # a CSS class: state-<key>
    label: str


def deployment_state(deployment: Deployment, online: int) -> State:
    """disabled, off (max 0), waiting for capacity, scaled to zero, or N online."""
    release = deployment.current_release
    if deployment.disabled:
        return State("disabled", "Disabled")
    if release is None or release.max_instances == 0:
        return State("off", "Off (max instances 0)")
    if deployment.scaling_note.startswith("waiting for capacity"):
        prefix = f"{online} online, " if online else ""
        return State("waiting", f"{prefix}waiting for capacity".capitalize())
    if online == 0:
        return State("zero", "Scaled to zero")
    return State("online", f"{online} online")


def with_online_counts(deployments):
    """The queryset with `online`: how many instances each has online now."""
    return deployments.annotate(
        online=Count("instances", filter=Q(instances__state__in=Instance.ONLINE))
    )


def instance_panel(deployment: Deployment) -> dict:
    """The live part of the page: instances online, recently stopped, what waits and runs."""
    instances = deployment.instances.select_related("release")
    online = list(instances.filter(state__in=Instance.ONLINE).order_by("started_at"))
    stopped = list(
        instances.exclude(state__in=Instance.ONLINE)
        .filter(stopped_at__gte=timezone.now() - RECENTLY)
        .order_by("-stopped_at")[:STOPPED_SHOWN]
    )
    pending = Prediction.objects.filter(
        deployment=deployment.full_name,
        status__in=[Prediction.Status.STARTING, Prediction.Status.PROCESSING],
    )
    return {
        "deployment": deployment,
        "state": deployment_state(deployment, len(online)),
        "instances": online,
        "stopped_instances": stopped,
        "backlog": pending.filter(claimed_at__isnull=True).count(),
        "running": pending.filter(claimed_at__isnull=False).count(),
    }


@dataclass(frozen=True)
class Change:
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class ReleaseRow:
    release: Release
    changes: list[Change]
    is_current: bool

    @property
    def created_by(self) -> str:
        release = self.release
        if release.created_by_id:
            return release.created_by.username
        if release.created_by_account_id:
            return release.created_by_account.name
        return ""


CONFIG_LABELS = {
    "version": "Version",
    "hardware": "Hardware",
    "min_instances": "Min instances",
    "max_instances": "Max instances",
}


def release_changes(old: Release | None, new: Release) -> list[Change]:
    """What `new` changed against the release before it (nothing for the first)."""
    if old is None:
        return []
    before, after = old.configuration, new.configuration
    changes = []
    for key, label in CONFIG_LABELS.items():
        if before[key] != after[key]:
            shown = (lambda v: v[:12]) if key == "version" else str
            changes.append(Change(label, shown(before[key]), shown(after[key])))
    return changes


def release_rows(deployment: Deployment) -> list[ReleaseRow]:
    releases = list(
        deployment.releases.select_related(
            "version", "hardware", "created_by", "created_by_account"
        ).order_by("-number")[: RELEASES_SHOWN + 1]
    )
    rows = []
    for index, release in enumerate(releases[:RELEASES_SHOWN]):
        previous = releases[index + 1] if index + 1 < len(releases) else None
        rows.append(
            ReleaseRow(
                release,
                release_changes(previous, release),
                is_current=release.pk == deployment.current_release_id,
            )
        )
    return rows
