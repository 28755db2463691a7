"""The deployment charts' numbers: points per window, gaps, axis ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apps.deployments import charts
from apps.deployments.models import MinuteMetric
from tests.catalog.factories import add_version, make_model
from tests.deployments.test_pages import deploy, no_gpus_here  # noqa: F401

NOW = datetime(2026, 1, 5, 12, 7, 30, tzinfo=UTC)


def test_the_hour_has_a_point_a_minute_and_ends_before_the_minute_going_on():
    window = charts.WINDOWS["hour"]
    assert charts.window_start(window, NOW) == datetime(2026, 1, 5, 11, 7, tzinfo=UTC)
    day = charts.WINDOWS["day"]
    assert charts.window_start(day, NOW) == datetime(2026, 1, 4, 12, 0, tzinfo=UTC)


def test_nice_ticks():
    assert charts.nice_step(17) == 5
    assert charts.nice_step(0.9) == 0.5
    assert charts.nice_step(0) == 1
    assert [charts.seconds_label(v) for v in (0, 0.25, 2, 90)] == ["0", "250ms", "2s", "1.5m"]


def test_a_quarter_hour_point_averages_its_minutes_and_gaps_stay_gaps(cast):
    model = make_model(cast)
    add_version(model, digest="1" * 64)
    deployment = deploy(cast, model, digest="1" * 64)
    start = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    for minute, (arrivals, completions, p50, p95) in enumerate(
        [(30, 10, 1.0, 2.0), (0, 30, 3.0, 9.0)]
    ):
        MinuteMetric.objects.create(
            deployment=deployment,
            minute=start + timedelta(minutes=minute),
            arrivals=arrivals,
            completions=completions,
            latency_p50=p50,
            latency_p95=p95,
            instances=minute + 1,
        )
    points = charts.buckets(deployment, charts.WINDOWS["day"], now=NOW)
    assert len(points) == 96
    point = next(p for p in points if p.start == start)
    assert point.arrivals == 2.0  # 30 predictions over 15 minutes
    assert point.latency_p50 == (10 * 1.0 + 30 * 3.0) / 40  # weighted by completions
    assert point.latency_p95 == 9.0 and point.instances == 1.5
    chart = charts.latency_chart(points, charts.WINDOWS["day"])
    p50 = chart.series[0]
    assert not p50.lines and len(p50.dots) == 1  # one point alone: a dot, no line
    assert [tick.label for tick in chart.y_ticks][-1] == "10s"
    assert "p95 at most 9s" in chart.description
