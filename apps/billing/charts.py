"""The usage page's chart: daily spend as stacked bars, drawn on the server as SVG
(templates/billing/_chart.html), one colour per model, hardware or deployment."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from apps.core.charts import nice_step

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 28
COLOURS = 8  # series-0 .. series-7 in billing.css; the rest are summed as "other"


@dataclass(frozen=True)
class Bar:
    key: int
    name: str
    day: date
    amount: Decimal
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class StackedChart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[int, str, Decimal]] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    description: str = ""
    empty: bool = True

    @property
    def y_label_x(self) -> int:
        return self.left - 6

    @property
    def x_label_y(self) -> int:
        return self.bottom + 18

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (TOP + self.bottom) / 2)


def dollars(value: float) -> str:
    """An axis label: cents from a dime up, else as many decimals as the value needs."""
    if value == 0:
        return "$0"
    if value >= 0.1:
        return f"${value:,.2f}"
    decimals = min(10, 1 - math.floor(math.log10(value)))
    return f"${value:.{decimals}f}"


def stacked(totals: dict[date, dict[str, Decimal]]) -> StackedChart:
    """`totals`: per day (every day of the range, in order), spend per group."""
    chart = StackedChart()
    days = list(totals)
    overall: dict[str, Decimal] = {}
    for groups in totals.values():
        for name, amount in groups.items():
            overall[name] = overall.get(name, Decimal(0)) + amount
    ranked = sorted(overall, key=lambda name: (-overall[name], name))
    named = ranked[: COLOURS - 1] if len(ranked) > COLOURS else ranked
    keys = {name: n for n, name in enumerate(named)}
    if len(ranked) > len(named):
        keys["other"] = COLOURS - 1
    chart.legend = [(keys[name], name, overall[name]) for name in named]
    if "other" in keys:
        rest = sum((overall[name] for name in ranked[len(named) :]), Decimal(0))
        chart.legend.append((keys["other"], f"{len(ranked) - len(named)} more", rest))
    highest = max((sum(groups.values(), Decimal(0)) for groups in totals.values()), default=0)
    chart.empty = not highest
    top = float(highest) or 1.0
    step = nice_step(top)
    top = step * max(1, -(-top // step))
    plot_height = chart.bottom - TOP
    slot = (chart.right - chart.left) / max(1, len(days))
    width = max(1.0, slot * 0.7)
    for index, day in enumerate(days):
        x = chart.left + index * slot + (slot - width) / 2
        base = chart.bottom
        stack: dict[int, tuple[str, Decimal]] = {}
        for name, amount in totals[day].items():
            key = keys.get(name, keys.get("other"))
            label = name if key != keys.get("other") else "other"
            previous = stack.get(key, (label, Decimal(0)))[1]
            stack[key] = (label, previous + amount)
        for key in sorted(stack):
            name, amount = stack[key]
            height = float(amount) / top * plot_height
            base -= height
            chart.bars.append(Bar(key, name, day, amount, round(x, 2), round(base, 2),
                                  round(width, 2), round(height, 2)))  # fmt: skip
    value = 0.0
    while value <= top + 1e-12:
        position = chart.bottom - value / top * plot_height
        chart.y_ticks.append(Tick(round(position, 2), dollars(value)))
        value += step
    every = max(1, len(days) // 8)
    for index in range(0, len(days), every):
        position = chart.left + index * slot + slot / 2
        chart.x_ticks.append(Tick(round(position, 2), days[index].strftime("%b %-d")))
    total = sum(overall.values(), Decimal(0))
    chart.description = (
        f"Daily spend from {days[0]:%B %-d} to {days[-1]:%B %-d, %Y}: {dollars(float(total))}"
        if days
        else "No days"
    )
    return chart
