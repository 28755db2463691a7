"""The model page's Train tab: a training form generated from the version's TrainingInput,
and a destination: a model of an account the user acts for, or a new one made on the spot.
A training started here goes to its page (/p/<id>), where its logs stream in."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.context import acting_accounts, current_account
from apps.billing.limits import SpendLimitReached
from apps.catalog.access import get_model_for_user
from apps.catalog.models import Model, Version, validate_model_name
from apps.catalog.services import model_create
from apps.catalog.views import tab_response
from apps.predictions.forms import PlaygroundForm
from apps.predictions.models import Prediction
from apps.predictions.trainings import NOT_TRAINABLE, training_create

NEW = "__new__"


class DestinationForm(forms.Form):
    """Where the trained version goes (prefixed `training-`, apart from train()'s inputs)."""

    destination = forms.ChoiceField(label="Destination model")
    new_name = forms.CharField(
        label="New model name",
        required=False,
        max_length=100,
        help_text="Made private under the account you act as, if you choose a new model.",
    )

    def __init__(self, *args, user, account, **kwargs) -> None:
        super().__init__(*args, prefix="training", **kwargs)
        self.account = account
        accounts = acting_accounts(user)
        self.models = {
            model.full_name: model
            for model in Model.objects.filter(owner__in=accounts)
            .select_related("owner")
            .order_by("owner__name", "name")
        }
        choices = [(NEW, f"A new model of {account.name}…")] if account is not None else []
        self.fields["destination"].choices = choices + [(name, name) for name in self.models]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("destination") == NEW:
            name = (cleaned.get("new_name") or "").strip()
            if not name:
                self.add_error("new_name", "Name the new model (letters, digits, - _ .).")
            else:
                try:
                    validate_model_name(name)
                except ValidationError as error:
                    self.add_error("new_name", error)
                else:
                    if Model.objects.filter(owner=self.account, name__iexact=name).exists():
                        self.add_error("new_name", f"{self.account.name}/{name} already exists.")
            cleaned["new_name"] = name
        return cleaned

    def destination_model(self) -> Model:
        """The chosen model, or the new one (made now: call it inside the transaction)."""
        choice = self.cleaned_data["destination"]
        if choice != NEW:
            return self.models[choice]
        try:
            return model_create(
                owner=self.account,
                name=self.cleaned_data["new_name"],
                visibility=Model.Visibility.PRIVATE,
            )
        except ValidationError as error:
            named = error.message_dict.get("name") if hasattr(error, "error_dict") else None
            self.add_error("new_name", named or error.messages)
            raise


def _trainable_version(request, model: Model) -> Version | None:
    digest = request.GET.get("version")
    if digest:
        version = model.versions.filter(digest=digest).first()
        if version is None:
            raise Http404("No such version")
        return version
    return model.latest_version


@require_http_methods(["GET", "HEAD", "POST"])
def model_train(request, owner: str, name: str):
    """GET: the form; POST: start the training and go to its page."""
    model, can_manage = get_model_for_user(request.user, owner, name)
    version = _trainable_version(request, model)
    if request.method == "POST" and not request.user.is_authenticated:
        return redirect_to_login(request.path)
    account = current_account(request)
    trainable = version is not None and version.is_trainable
    form = destination = None
    status = 200
    if trainable and request.user.is_authenticated:
        data = request.POST if request.method == "POST" else None
        files = request.FILES if request.method == "POST" else None
        form = PlaygroundForm(version.training_schema, data=data, files=files)
        destination = DestinationForm(data, user=request.user, account=account)
        if request.method == "POST":
            started, status = _start(request, version, form, destination, account)
            if started is not None:
                url = reverse("prediction_detail", args=[started.id])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    elif request.method == "POST":
        status = 422
    context = {
        "model": model,
        "can_manage": can_manage,
        "tab": "train",
        "version": version,
        "trainable": trainable,
        "not_trainable": NOT_TRAINABLE,
        "training_form": form,
        "destination_form": destination,
        "login_url": f"{reverse(settings.LOGIN_URL)}?next={request.path}",
    }
    return tab_response(request, "predictions/train.html", context, status=status)


def _start(request, version, form, destination, account) -> tuple[Prediction | None, int]:
    """The training, or None and the status of the form shown again with its errors."""
    valid = form.is_valid()
    if not (destination.is_valid() and valid):
        return None, 422
    try:
        with transaction.atomic():
            target = destination.destination_model()
            training = training_create(
                version=version,
                owner=account or request.user.account,
                destination=target,
                input=form.cleaned_data["input"],
                created_by=request.user,
                source=Prediction.Source.WEB,
            )
    except ValidationError:  # the new model's name, now next to its field
        return None, 422
    except SpendLimitReached as refusal:  # the same sentence as the API's 402
        form.add_error(None, refusal.detail)
        return None, 402
    return training, 201
