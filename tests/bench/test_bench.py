"""The benchmark suite runs: `manage.py bench --quick` does a handful of operations in every
scenario and reports each of them (speed is never asserted: this only keeps the code alive)."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

from apps.core.management.commands.bench import SCENARIOS


def test_the_quick_benchmark_reports_every_scenario(tmp_path):
    var_dir = tmp_path / "var"
    report = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "bench", "--quick"]
        + ["--var-dir", str(var_dir), "--output", str(report)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    table = result.stdout.split("\n\nscenario", 1)[1]
    for scenario in SCENARIOS:
        assert f"\n{scenario} " in table, f"no row for {scenario}:\n{table}"
    assert "FAILED" not in table
    text = report.read_text()
    assert "<!-- bench:begin -->" in text and "## Results" in text
    for scenario in SCENARIOS:
        assert f"| {scenario} |" in text
    assert not var_dir.exists(), "the throwaway var dir is removed"
