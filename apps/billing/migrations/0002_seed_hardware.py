"""Replicate's public hardware table (2025-2026 prices); only `cpu` runs on a fresh install."""

from decimal import Decimal

from django.db import migrations

# sku, name, $/second, GPUs, vCPUs, GPU memory GB, memory GB
HARDWARE = [
    ("cpu", "CPU", "0.000100", 0, 4, None, 8),
    ("gpu-t4", "Nvidia T4 GPU", "0.000225", 1, 4, 16, 16),
    ("gpu-a40-small", "Nvidia A40 GPU", "0.000575", 1, 4, 48, 16),
    ("gpu-a40-large", "Nvidia A40 (Large) GPU", "0.000725", 1, 10, 48, 72),
    ("gpu-a40-large-2x", "2x Nvidia A40 (Large) GPU", "0.001450", 2, 20, 96, 144),
    ("gpu-a40-large-4x", "4x Nvidia A40 (Large) GPU", "0.002900", 4, 40, 192, 288),
    ("gpu-a40-large-8x", "8x Nvidia A40 (Large) GPU", "0.005800", 8, 48, 384, 680),
    ("gpu-l40s", "Nvidia L40S GPU", "0.000975", 1, 10, 48, 65),
    ("gpu-2x-l40s", "2x Nvidia L40S GPU", "0.001950", 2, 20, 96, 144),
    ("gpu-4x-l40s", "4x Nvidia L40S GPU", "0.003900", 4, 40, 192, 288),
    ("gpu-8x-l40s", "8x Nvidia L40S GPU", "0.007800", 8, 80, 384, 576),
    ("gpu-a100-large", "Nvidia A100 (80GB) GPU", "0.001400", 1, 10, 80, 144),
    ("gpu-a100-large-2x", "2x Nvidia A100 (80GB) GPU", "0.002800", 2, 20, 160, 288),
    ("gpu-a100-large-4x", "4x Nvidia A100 (80GB) GPU", "0.005600", 4, 40, 320, 576),
    ("gpu-a100-large-8x", "8x Nvidia A100 (80GB) GPU", "0.011200", 8, 80, 640, 960),
    ("gpu-h100", "Nvidia H100 GPU", "0.001525", 1, None, 80, None),
    ("gpu-h100-2x", "2x Nvidia H100 GPU", "0.003050", 2, None, 160, None),
    ("gpu-h100-4x", "4x Nvidia H100 GPU", "0.006100", 4, None, 320, None),
    ("gpu-h100-8x", "8x Nvidia H100 GPU", "0.012200", 8, None, 640, None),
]


def seed(apps, schema_editor):
    Hardware = apps.get_model("billing", "Hardware")
    for position, (sku, name, price, gpus, cpus, gpu_memory, memory) in enumerate(HARDWARE):
        Hardware.objects.update_or_create(
            sku=sku,
            defaults={
                "name": name, "price_per_second": Decimal(price), "gpu_count": gpus,
                "cpu_count": cpus, "gpu_memory_gb": gpu_memory, "memory_gb": memory,
                "available": sku == "cpu", "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
