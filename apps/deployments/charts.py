"""A deployment's charts, drawn on the server as SVG coordinates (no JavaScript, no library):
predictions per minute, latency and instances online, over the last hour or the last day.

`buckets()` folds the per-minute `MinuteMetric` rows into evenly spaced points (a minute each
for the hour, a quarter of an hour each for the day); the `*_chart()` functions lay those out
as polylines with nice axis ticks, ready for templates/deployments/_chart.html."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from apps.core.charts import nice_step
from apps.deployments.models import Deployment, MinuteMetric

WIDTH, HEIGHT = 960, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 28  # the plot's margins, for the axis labels


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    minutes: int  # the whole window
    step: int  # minutes per point
    tick_every: int  # minutes between time labels


WINDOWS = {
    "hour": Window("hour", "Last hour", 60, 1, 10),
    "day": Window("day", "Last day", 24 * 60, 15, 180),
}


@dataclass
class Bucket:
    start: datetime
    arrivals: float = 0.0  # per minute
    completions: float = 0.0
    failures: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    instances: float | None = None  # None: nothing was recorded (the autoscaler was not running)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class Series:
    key: str  # a CSS class: series-<key>
    label: str
    summary: str  # what the legend says about it, e.g. "120 in all"
    lines: list[str] = field(default_factory=list)  # `points` of each unbroken polyline
    dots: list[tuple[float, float]] = field(default_factory=list)  # points with no neighbour


@dataclass
class Chart:
    key: str
    title: str
    description: str  # for screen readers: what the chart says, in words
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: list[Series]
    empty: bool
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    # Where the labels go (the template does no arithmetic).
    @property
    def y_label_x(self) -> int:
        return self.left - 6

    @property
    def x_label_y(self) -> int:
        return self.height - 8

    @property
    def tick_end(self) -> int:
        return self.bottom + 4

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2


def window_start(window: Window, now: datetime) -> datetime:
    """The first point's start. Points end before the one that holds `now`: the autoscaler
    writes a minute once it is over, so the point still going on would look like a drop."""
    now = now.replace(second=0, microsecond=0)
    end = now - timedelta(minutes=(now.hour * 60 + now.minute) % window.step)
    return end - timedelta(minutes=window.minutes)


def buckets(deployment: Deployment, window: Window, now: datetime | None = None) -> list[Bucket]:
    now = now or timezone.now()
    start = window_start(window, now)
    count = window.minutes // window.step
    end = start + timedelta(minutes=window.minutes)
    rows = MinuteMetric.objects.filter(
        deployment=deployment, minute__gte=start, minute__lt=end
    ).values_list(
        "minute",
        "arrivals",
        "completions",
        "failures",
        "latency_p50",
        "latency_p95",
        "instances",
    )
    grouped: list[list[tuple]] = [[] for _ in range(count)]
    for row in rows:
        index = int((row[0] - start).total_seconds() // 60) // window.step
        if 0 <= index < count:
            grouped[index].append(row)
    return [
        _fold(start + timedelta(minutes=i * window.step), group, window.step)
        for i, group in enumerate(grouped)
    ]


def _fold(start: datetime, rows: list[tuple], minutes: int) -> Bucket:
    """One point from the minutes in it: counts per minute, the completions-weighted mean of
    the p50s, the highest p95, the mean of the instances recorded."""
    bucket = Bucket(start)
    if not rows:
        return bucket
    bucket.arrivals = sum(r[1] for r in rows) / minutes
    bucket.completions = sum(r[2] for r in rows) / minutes
    bucket.failures = sum(r[3] for r in rows) / minutes
    timed = [(r[2] or 1, r[4]) for r in rows if r[4] is not None]
    if timed:
        bucket.latency_p50 = sum(w * v for w, v in timed) / sum(w for w, _ in timed)
    p95s = [r[5] for r in rows if r[5] is not None]
    bucket.latency_p95 = max(p95s) if p95s else None
    bucket.instances = sum(r[6] for r in rows) / len(rows)
    return bucket


# --- axes -------------------------------------------------------------------------------------


def number_label(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def seconds_label(value: float) -> str:
    if value == 0:
        return "0"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{number_label(value)}s"
    minutes = value / 60
    return f"{number_label(round(minutes, 1))}m"


def _y_axis(highest: float, label, minimum_top: float) -> tuple[float, list[Tick]]:
    step = nice_step(max(highest, minimum_top))
    top = step * math.ceil(max(highest, minimum_top) / step)
    ticks = []
    value = 0.0
    while value <= top + step / 1000:
        ticks.append(Tick(_y(value, top), label(value)))
        value += step
    return top, ticks


def _y(value: float, top: float) -> float:
    plot = (HEIGHT - BOTTOM) - TOP
    return round((HEIGHT - BOTTOM) - plot * (value / top if top else 0), 1)


def _x(index: int, count: int) -> float:
    plot = (WIDTH - RIGHT) - LEFT
    return round(LEFT + plot * (index + 0.5) / count, 1)


def _x_ticks(points: list[Bucket], window: Window) -> list[Tick]:
    ticks = []
    for index, bucket in enumerate(points):
        local = timezone.localtime(bucket.start)
        minute_of_day = local.hour * 60 + local.minute
        if minute_of_day % window.tick_every == 0:
            ticks.append(Tick(_x(index, len(points)), local.strftime("%H:%M")))
    return ticks


def _series(key, label, summary, values: list[float | None], top: float) -> Series:
    """Polylines through the values; a None breaks the line (nothing was recorded there)."""
    series = Series(key, label, summary)
    run: list[tuple[float, float]] = []
    for index, value in enumerate([*values, None]):
        if value is not None:
            run.append((_x(index, len(values)), _y(value, top)))
            continue
        if len(run) > 1:
            series.lines.append(" ".join(f"{x},{y}" for x, y in run))
        elif run:
            series.dots.append(run[0])
        run = []
    return series


# --- the three charts -------------------------------------------------------------------------


def predictions_chart(points: list[Bucket], window: Window) -> Chart:
    per = "minute" if window.step == 1 else f"minute, averaged over {window.step} minutes"
    columns = {
        "arrivals": [p.arrivals for p in points],
        "completions": [p.completions for p in points],
        "failures": [p.failures for p in points],
    }
    totals = {key: round(sum(values) * window.step) for key, values in columns.items()}
    top, y_ticks = _y_axis(max(max(v) for v in columns.values()), number_label, 1)
    labels = {"arrivals": "Arrived", "completions": "Succeeded", "failures": "Failed"}
    series = [
        _series(key, labels[key], f"{totals[key]} in all", values, top)
        for key, values in columns.items()
    ]
    description = (
        f"Predictions per {per}, {window.label.lower()}: {totals['arrivals']} arrived, "
        f"{totals['completions']} succeeded, {totals['failures']} failed."
    )
    return Chart(
        "predictions",
        "Predictions per minute",
        description,
        y_ticks,
        _x_ticks(points, window),
        series,
        empty=not any(totals.values()),
    )


def latency_chart(points: list[Bucket], window: Window) -> Chart:
    p50 = [p.latency_p50 for p in points]
    p95 = [p.latency_p95 for p in points]
    known = [v for v in p50 + p95 if v is not None]
    top, y_ticks = _y_axis(max(known, default=0), seconds_label, 1)

    def summary(values):
        seen = [v for v in values if v is not None]
        return f"at most {seconds_label(round(max(seen), 3))}" if seen else "no data"

    series = [
        _series("p50", "p50", summary(p50), p50, top),
        _series("p95", "p95", summary(p95), p95, top),
    ]
    description = (
        f"Latency from creation to completion, {window.label.lower()}: p50 {summary(p50)}, "
        f"p95 {summary(p95)}."
    )
    return Chart(
        "latency",
        "Latency (created to completed)",
        description,
        y_ticks,
        _x_ticks(points, window),
        series,
        empty=not known,
    )


def instances_chart(points: list[Bucket], window: Window) -> Chart:
    values = [p.instances for p in points]
    known = [v for v in values if v is not None]
    top, y_ticks = _y_axis(max(known, default=0), number_label, 2)
    most = number_label(round(max(known), 2)) if known else "0"
    summary = f"at most {most}" if known else "nothing recorded"
    series = [_series("instances", "Online", summary, values, top)]
    description = f"Instances online (average per point), {window.label.lower()}: {summary}."
    return Chart(
        "instances",
        "Instances online",
        description,
        y_ticks,
        _x_ticks(points, window),
        series,
        empty=not known,
    )


def deployment_charts(deployment: Deployment, window: Window) -> list[Chart]:
    points = buckets(deployment, window)
    return [
        predictions_chart(points, window),
        latency_chart(points, window),
        instances_chart(points, window),
    ]
