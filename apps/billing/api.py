"""`GET /v1/account/usage`: the token's account's ledger (our extension to Replicate's API)."""

from __future__ import annotations

from django.http import JsonResponse
from ninja import Router

from apps.billing import usage
from apps.core.pagination import paginate
from apps.core.problems import ApiError

router = Router(tags=["account"])


@router.get(
    "/account/usage",
    url_name="account_usage",
    summary="List the account's usage records, or its daily totals (an extension)",
    description="Query: `start` and `end` (dates, YYYY-MM-DD, both included; by default the "
    "last 30 days, at most 366), `group=daily` for one row per day instead of the records, "
    "`model` and `deployment` (`owner/name`) to filter. Records are paginated like every "
    "list, newest first; amounts are exact decimal strings in US dollars.",
)
def account_usage(
    request,
    start: str | None = None,
    end: str | None = None,
    group: str = "",
    model: str = "",
    deployment: str = "",
    cursor: str | None = None,
):
    try:
        span = usage.parse_range(start, end)
    except usage.RangeError as error:
        raise ApiError(400, f"Invalid {error.field}", str(error)) from None
    if group not in ("", "daily"):
        raise ApiError(400, "Invalid group", "group can only be `daily` (or left out).")
    rows = usage.records(request.auth, span, model=model, deployment=deployment)
    if group == "daily":
        totals = usage.daily(rows, span, "model")
        results = [
            {"date": str(day), "amount": str(sum(groups.values(), 0)), "by_model": {
                name: str(amount) for name, amount in sorted(groups.items())
            }}
            for day, groups in totals.items()
        ]  # fmt: skip
        return JsonResponse({"next": None, "previous": None, "results": results[::-1]})
    return JsonResponse(paginate(request, rows, usage.record_json))
