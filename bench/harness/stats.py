"""Figures of a benchmark: percentiles and summaries, the rows of the suite's table, and the
tables themselves (text for the terminal, Markdown for docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# --- statistics --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (as numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
        "mean": sum(values) / len(values) if values else float("nan"),
    }


def ms(seconds: float) -> float:
    return seconds * 1000


# --- results -----------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the suite's table."""

    scenario: str
    what: str
    n: int = 0
    p50: float | None = None  # ms
    p95: float | None = None  # ms
    value: str = ""  # a figure that is not a latency (throughput, counts)
    versus: str = ""  # the comparison, measured in the same run
    ratio: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    scenario: str
    rows: list[Row] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown)
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    load_start: float = field(default_factory=lambda: os.getloadavg()[0])

    def add(self, what: str, **kwargs) -> Row:
        row = Row(self.scenario, what, **kwargs)
        self.rows.append(row)
        return row

    def add_summary(self, what: str, stats: dict[str, float], **kwargs) -> Row:
        """A row for latencies already summarised (`summary()`): their count, p50 and p95."""
        return self.add(what, n=stats["n"], p50=stats["p50"], p95=stats["p95"], **kwargs)

    def section(self, title: str, markdown: str) -> None:
        self.sections.append((title, markdown.strip()))

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "rows": [asdict(r) for r in self.rows],
            "sections": self.sections,
            "notes": self.notes,
            "seconds": time.time() - self.started,
            "load_start": self.load_start,
            "load_end": os.getloadavg()[0],
        }


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and a == a and b == b else "-"


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table_rows(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    header = ["scenario", "measurement", "n", "p50 ms", "p95 ms", "value", "vs (same run)"]
    header += ["ratio", "target", "met"]
    body = []
    for row in rows:
        verdict = {True: "yes", False: "NO", None: ""}[row.met]
        body.append(
            [
                row.scenario,
                row.what,
                str(row.n or ""),
                fmt(row.p50),
                fmt(row.p95),
                row.value,
                row.versus,
                row.ratio,
                row.target,
                verdict,
            ]
        )
    return header, body


def finish(results: Results, json_path: Path | None) -> None:
    header, body = table_rows(results.rows)
    print(text_table(header, body))
    for title, markdown in results.sections:
        print(f"\n## {title}\n\n{markdown}")
    if json_path:
        json_path.write_text(json.dumps(results.to_json(), indent=1))
