"""Reading the ledger: a date range, the records in it, daily totals by model, hardware or
deployment, the table under the chart, and the CSV export (the same rows as the ledger)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.accounts.models import Account
from apps.billing.models import UsageRecord, month_of

GROUPS = {"model": "model", "hardware": "hardware", "deployment": "deployment"}
DEFAULT_DAYS = 30
MAX_DAYS = 366
CSV_COLUMNS = [
    "id", "kind", "object_id", "model", "version", "deployment", "hardware", "basis", "note",
    "started_at", "ended_at", "month", "seconds", "unit", "units", "unit_price", "amount",
]  # fmt: skip


class RangeError(ValueError):
    """A range a person asked for that cannot be shown; the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Range:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)


def _date(field: str, raw: str | None) -> date | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else date.fromisoformat(text)
    except ValueError:
        raise RangeError(field, f"{field} must be a date, as YYYY-MM-DD (not {raw!r}).") from None


def parse_range(start: str | None, end: str | None, *, today: date | None = None) -> Range:
    """Dates as people and clients give them (YYYY-MM-DD, or the date of an ISO 8601 time);
    by default the last 30 days, today included."""
    today = today or timezone.now().astimezone(UTC).date()
    end_day = _date("end", end) or today
    start_day = _date("start", start) or end_day - timedelta(days=DEFAULT_DAYS - 1)
    if start_day > end_day:
        raise RangeError("start", f"start ({start_day}) is after end ({end_day}).")
    if (end_day - start_day).days + 1 > MAX_DAYS:
        raise RangeError("end", f"A range can span at most {MAX_DAYS} days.")
    return Range(start_day, end_day)


def records(
    account: Account, span: Range, *, model: str = "", deployment: str = ""
) -> QuerySet[UsageRecord]:
    rows = UsageRecord.objects.filter(
        account=account, ended_at__gte=span.since, ended_at__lt=span.until
    )
    if model:
        rows = rows.filter(model=model)
    if deployment:
        rows = rows.filter(deployment=deployment)
    return rows


def label(group: str, value: str) -> str:
    if value:
        return value
    return {"deployment": "(not a deployment)", "model": "(none)"}.get(group, "(none)")


def daily(rows: QuerySet[UsageRecord], span: Range, group: str) -> dict[date, dict[str, Decimal]]:
    """Spend per UTC day and group, every day of the range present."""
    field = GROUPS[group]
    totals: dict[date, dict[str, Decimal]] = {day: {} for day in span.days}
    grouped = (
        rows.annotate(day=TruncDate("ended_at", tzinfo=UTC))
        .values("day", field)
        .annotate(amount=Sum("amount"))
    )
    for row in grouped:
        day = row["day"]
        if day in totals:
            name = label(group, row[field])
            totals[day][name] = totals[day].get(name, Decimal(0)) + row["amount"]
    return totals


@dataclass(frozen=True)
class TableRow:
    name: str
    records: int
    seconds: Decimal
    amount: Decimal


def table(rows: QuerySet[UsageRecord], group: str) -> list[TableRow]:
    field = GROUPS[group]
    grouped = rows.values(field).annotate(
        n=Count("pk"), seconds=Sum("seconds"), amount=Sum("amount")
    )
    result = [
        TableRow(label(group, row[field]), row["n"], row["seconds"], row["amount"])
        for row in grouped
    ]
    return sorted(result, key=lambda row: (-row.amount, row.name))


def choices(account: Account, field: str) -> list[str]:
    """The models (or deployments) the account has any usage of, for the filters."""
    values = UsageRecord.objects.filter(account=account).exclude(**{field: ""})
    return sorted(set(values.values_list(field, flat=True)))


def record_json(row: UsageRecord) -> dict:
    return {
        "id": row.pk,
        "kind": row.kind,
        "object_id": row.object_id,
        "model": row.model or None,
        "version": row.version or None,
        "deployment": row.deployment or None,
        "hardware": row.hardware or None,
        "basis": row.basis,
        "note": row.note,
        "started_at": _iso(row.started_at),
        "ended_at": _iso(row.ended_at),
        "month": row.month.strftime("%Y-%m"),
        "seconds": str(row.seconds),
        "unit": row.unit or "second",
        "units": str(row.units),
        "unit_price": str(row.unit_price),
        "amount": str(row.amount),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def csv_text(rows: QuerySet[UsageRecord]) -> str:
    """The ledger's rows, oldest first, with every amount exactly as recorded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows.order_by("ended_at", "pk").iterator():
        data = record_json(row)
        writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return out.getvalue()


def deployment_month_spend(deployment) -> Decimal:
    """What a deployment (`owner/name` of `deployment.owner`) cost its account this month."""
    total = UsageRecord.objects.filter(
        account=deployment.owner,
        deployment=deployment.full_name,
        month=month_of(timezone.now()),
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal(0)
