"""Finding models and collections by text: every word of the query must appear in a model's
name, owner or description; matches in the name rank first."""

from __future__ import annotations

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from apps.accounts.models import Account
from apps.catalog.models import Collection, Model

MAX_QUERY_LENGTH = 200
MAX_TERMS = 10


def search_terms(text: str) -> list[str]:
    return text[:MAX_QUERY_LENGTH].split()[:MAX_TERMS]


def _managed_accounts(account: Account) -> QuerySet:
    accounts = Q(pk=account.pk)
    if account.user_id:
        accounts |= Q(organization__memberships__user_id=account.user_id)
    return Account.objects.filter(accounts).values("pk")


def searchable_models(account: Account) -> QuerySet:
    """Models the account may see; other people's only once they have a version to run."""
    visible = Model.objects.visible_to_account(account).values("pk")
    return Model.objects.filter(pk__in=visible).filter(
        Q(latest_version__isnull=False) | Q(owner__in=_managed_accounts(account))
    )


def _term_matches(term: str) -> Q:
    matches = (
        Q(name__icontains=term) | Q(owner__name__icontains=term) | Q(description__icontains=term)
    )
    owner, slash, name = term.partition("/")
    if slash and owner and name:
        matches |= Q(owner__name__iexact=owner, name__icontains=name)
    return matches


def _points(condition: Q, points: int) -> Case:
    return Case(When(condition, then=Value(points)), default=Value(0), output_field=IntegerField())


def model_search(models: QuerySet, text: str) -> QuerySet:
    """`models` matching every word of `text`, best first, with the relevance as `score`."""
    terms = search_terms(text)
    if not terms:
        return models.none()
    score = _points(Q(name__iexact=" ".join(terms)), 100)
    for term in terms:
        models = models.filter(_term_matches(term))
        score += _points(Q(name__iexact=term), 20) + _points(Q(name__istartswith=term), 10)
        score += _points(Q(name__icontains=term), 6) + _points(Q(owner__name__iexact=term), 4)
        score += _points(Q(description__icontains=term), 2)
    return models.annotate(score=score).order_by("-score", "-run_count", "-created_at", "-pk")


def collection_search(text: str) -> QuerySet:
    collections = Collection.objects.all()
    terms = search_terms(text)
    if not terms:
        return collections.none()
    for term in terms:
        collections = collections.filter(
            Q(name__icontains=term) | Q(slug__icontains=term) | Q(description__icontains=term)
        )
    return collections
