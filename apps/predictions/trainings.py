"""Trainings: a trainable version's train() run on the caller's input, making a new version
of a model of theirs (the destination) with the weights it returned.

A training is a Prediction of kind "training": it goes through the same queues, workers,
event log, webhooks, sweeper and ledger. What differs is who may train into what (here) and
how a finished train() becomes a version (the worker's side, training_end.py)."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import Account, User
from apps.catalog.access import account_can_manage
from apps.catalog.models import Model, Version
from apps.core.problems import ApiError
from apps.predictions.models import Prediction
from apps.predictions.services import prediction_create

NOT_TRAINABLE = (
    "This version cannot be trained: its cog.yaml has no `train:` (Cog's trainer, a function "
    "or a class with train(), that returns an object with a `weights` file)."
)
NO_DESTINATION = "The specified training destination does not exist"


def destination_for(account: Account, ref: Any) -> Model:
    """The model `owner/name` a training of `account` may write its version into: one the
    account owns or manages. Anything else, including a model it can only see, is reported
    as not existing (Replicate's answer, which reveals nothing)."""
    owner, _, name = ref.partition("/") if isinstance(ref, str) else ("", "", "")
    model = (
        Model.objects.select_related("owner")
        .filter(owner__name__iexact=owner, name__iexact=name)
        .first()
        if owner and name and "/" not in name
        else None
    )
    if model is None or not account_can_manage(account, model.owner):
        raise ApiError(404, "Not found", NO_DESTINATION)
    return model


def training_create(
    *,
    version: Version,
    owner: Account,
    destination: Model,
    input: dict,
    created_by: User | None = None,
    source: str = Prediction.Source.API,
    webhook: str = "",
    webhook_events_filter: list[str] | None = None,
) -> Prediction:
    """Admit and save a training (input already checked against TrainingInput); queued when
    the surrounding transaction commits."""
    return prediction_create(
        version=version,
        owner=owner,
        input=input,
        created_by=created_by,
        source=source,
        webhook=webhook,
        webhook_events_filter=webhook_events_filter,
        kind=Prediction.Kind.TRAINING,
        destination=destination,
    )
