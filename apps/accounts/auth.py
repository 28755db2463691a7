"""API authentication: `Authorization: Bearer <token>` or the legacy `Token <token>`."""

from __future__ import annotations

from ninja.security import HttpBearer

from apps.accounts.models import Account
from apps.accounts.services import token_authenticate
from apps.core import ratelimit
from apps.core.problems import ApiError

MISSING = "You did not pass an authentication token"
INVALID = "You did not pass a valid authentication token"


class TokenAuth(HttpBearer):
    def __call__(self, request) -> Account:
        header = request.headers.get("Authorization", "").strip()
        if not header:
            raise ApiError(401, "Unauthenticated", MISSING)
        scheme, _, raw = header.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            raise ApiError(401, "Unauthenticated", INVALID)
        return self.authenticate(request, raw)

    def authenticate(self, request, token: str) -> Account:
        api_token = token_authenticate(token)
        if api_token is None:
            raise ApiError(401, "Unauthenticated", INVALID)
        request.api_token = api_token
        ratelimit.check(request, api_token.account_id)
        return api_token.account
