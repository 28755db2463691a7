"""The autoscaler's policy: how many instances a deployment should have. Pure functions of
what the autoscaler observed, so that every rule can be tested on its own (docs/deployments.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Observation:
    min_instances: int
    max_instances: int
    off: bool  # disabled, or max 0
    waiting: int  # queued, no instance has it yet
    running: int  # claimed by an instance (setting up or predicting)
    arrivals_per_second: float = 0.0  # over the last minute
    latency_p50: float | None = None  # seconds, over the last minute


def target(obs: Observation, per_instance: int = 1) -> int:
    """Instances wanted now: enough for the work at hand (waiting + running, `per_instance`
    each) and, while there is work, for the arrival rate of the last minute (Little's law:
    arrivals/s x p50 latency), within min/max; none when the deployment is off."""
    if obs.off:
        return 0
    want = math.ceil((obs.waiting + obs.running) / per_instance)
    if want and obs.arrivals_per_second and obs.latency_p50:
        want = max(want, math.ceil(obs.arrivals_per_second * obs.latency_p50 / per_instance))
    return max(obs.min_instances, min(obs.max_instances, want))


def may_stop(
    last_busy: datetime | None, started: datetime, now: datetime, idle_seconds: int
) -> bool:
    """An instance above the target stops only after `idle_seconds` without work, so a
    deployment does not stop and cold-boot again between two bursts."""
    return now - (last_busy or started) >= timedelta(seconds=idle_seconds)
