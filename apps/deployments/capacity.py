"""What this machine declares it can give to deployment instances, and what an instance of a
hardware SKU takes from it. The supervisor never starts an instance that does not fit."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from apps.billing.models import Hardware


@dataclass(frozen=True)
class Resources:
    cpus: int = 0
    memory_gb: int = 0
    gpus: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpus + other.cpus, self.memory_gb + other.memory_gb, self.gpus + other.gpus
        )

    def fits_in(self, other: Resources) -> bool:
        return (
            self.cpus <= other.cpus
            and self.memory_gb <= other.memory_gb
            and self.gpus <= other.gpus
        )


def machine() -> Resources:
    """The whole of what instances on this machine may use (INSTANCE_CPUS, _MEMORY_GB, _GPUS)."""
    return Resources(settings.INSTANCE_CPUS, settings.INSTANCE_MEMORY_GB, settings.INSTANCE_GPUS)


def demand(hardware: Hardware) -> Resources:
    """One instance of `hardware`: its vCPUs (1 when the table gives none), memory, GPUs."""
    return Resources(hardware.cpu_count or 1, hardware.memory_gb or 0, hardware.gpu_count)


def unservable(hardware: Hardware) -> str | None:
    """Why no instance of `hardware` can ever run here, or None if one can."""
    need, have = demand(hardware), machine()
    if need.gpus > have.gpus:
        return (
            f"{hardware.sku} needs {need.gpus} GPU(s) and this installation's instances have "
            f"{have.gpus} (INSTANCE_GPUS)."
        )
    if need.cpus > have.cpus:
        return (
            f"{hardware.sku} needs {need.cpus} vCPUs and this installation's instances have "
            f"{have.cpus} (INSTANCE_CPUS)."
        )
    if need.memory_gb > have.memory_gb:
        return (
            f"{hardware.sku} needs {need.memory_gb} GB of memory and this installation's "
            f"instances have {have.memory_gb} GB (INSTANCE_MEMORY_GB)."
        )
    return None
