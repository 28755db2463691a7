"""Webhook delivery (being built)."""

from ninja import Router

router = Router(tags=["webhooks"])
