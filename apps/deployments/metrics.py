"""Per-deployment, per-minute metrics, aggregated by the autoscaler as it ticks: arrivals,
completions, failures, latency percentiles (from the predictions), the most that waited,
and instance-seconds by state (from what it observed). Kept DEPLOYMENT_METRICS_DAYS days."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.deployments.models import Deployment, Instance, MinuteMetric
from apps.predictions.models import Prediction

PURGE_EVERY = 3600.0  # seconds


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def aggregate(deployment: Deployment, minute: datetime) -> dict:
    """What the predictions of one deployment say about one minute."""
    end = minute + timedelta(minutes=1)
    mine = Prediction.objects.filter(deployment=deployment.full_name)
    arrivals = mine.filter(created_at__gte=minute, created_at__lt=end).count()
    finished = list(
        mine.filter(completed_at__gte=minute, completed_at__lt=end).values_list(
            "status", "created_at", "completed_at"
        )
    )
    latencies = [
        (done - created).total_seconds()
        for status, created, done in finished
        if status == Prediction.Status.SUCCEEDED
    ]
    return {
        "arrivals": arrivals,
        "completions": len(latencies),
        "failures": sum(1 for status, _c, _d in finished if status == Prediction.Status.FAILED),
        "latency_p50": percentile(latencies, 0.5),
        "latency_p95": percentile(latencies, 0.95),
    }


class Meter:
    """Accumulates what the autoscaler sees each tick; writes a row per deployment per minute."""

    def __init__(self) -> None:
        self.minute: datetime | None = None
        self.last_tick: float | None = None
        self.seconds: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.backlog: dict[int, int] = defaultdict(int)
        self.deployments: dict[int, Deployment] = {}
        self.latest: dict[int, tuple[float, float | None]] = {}
        self.last_purge: float | None = None  # purge at the first flush

    def record(self, deployments, instances: list[Instance], work: dict, now: datetime) -> None:
        if self.minute is not None and minute_of(now) != self.minute:
            self.flush(now)
        self.minute = minute_of(now)
        tick = time.monotonic()
        elapsed = 0.0 if self.last_tick is None else min(tick - self.last_tick, 5.0)
        self.last_tick = tick
        for deployment in deployments:
            self.deployments[deployment.pk] = deployment
            waiting = work.get(deployment.full_name, {}).get("waiting", 0)
            self.backlog[deployment.pk] = max(self.backlog[deployment.pk], waiting)
        for instance in instances:
            if instance.is_online:
                self.seconds[instance.deployment_id][instance.state] += elapsed

    def flush(self, now: datetime) -> None:
        """Write the minute that ended (one row per deployment seen in it)."""
        if self.minute is None:
            return
        minute = self.minute
        for pk, deployment in self.deployments.items():
            numbers = aggregate(deployment, minute)
            seconds = {state: round(value, 2) for state, value in self.seconds[pk].items()}
            MinuteMetric.objects.update_or_create(
                deployment_id=pk,
                minute=minute,
                defaults={
                    **numbers,
                    "backlog": self.backlog[pk],
                    "instances": round(sum(seconds.values()) / 60, 3),
                    "instance_seconds": seconds,
                },
            )
            self.latest[pk] = (numbers["arrivals"] / 60, numbers["latency_p50"])
        self.seconds.clear()
        self.backlog.clear()
        self.deployments = {}
        self.minute = minute_of(now)
        if self.last_purge is None or time.monotonic() - self.last_purge > PURGE_EVERY:
            cutoff = timezone.now() - timedelta(days=settings.DEPLOYMENT_METRICS_DAYS)
            MinuteMetric.objects.filter(minute__lt=cutoff).delete()
            self.last_purge = time.monotonic()

    def recent(self, deployment_pk: int) -> tuple[float, float | None]:
        """Arrivals per second and p50 latency of the last minute written."""
        return self.latest.get(deployment_pk, (0.0, None))
