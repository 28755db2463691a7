"""The deployment pages: the list, Create, and each deployment's page with its live
instances, charts, API code, Run form, releases, settings, Disable and Delete.

Only members of the owning account see a deployment (`Deployment.objects.visible_to`):
everyone else gets a 404, for pages and posts alike. Every post works as a plain form: a
redirect on success, the page again with the problem beside its field otherwise."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.context import acting_accounts, current_account, find_acting_account
from apps.billing.limits import SpendLimitReached
from apps.billing.usage import deployment_month_spend
from apps.catalog.inputs import snippet_input
from apps.catalog.models import Model
from apps.core.links import public_base
from apps.deployments import services
from apps.deployments.charts import WINDOWS, deployment_charts
from apps.deployments.display import (
    deployment_state,
    instance_panel,
    release_rows,
    with_online_counts,
)
from apps.deployments.forms import (
    DeploymentCreateForm,
    DeploymentSettingsForm,
    add_problem,
    estimate,
)
from apps.deployments.models import Deployment
from apps.deployments.services import DeploymentProblem
from apps.deployments.snippets import deployment_snippets
from apps.predictions.forms import PlaygroundForm
from apps.predictions.models import Prediction

DETAIL = "deployments/detail.html"
PREDICTIONS_SHOWN = 20
PREDICTION_ROW_FIELDS = ("id", "status", "source", "created_at", "completed_at", "started_at")


def get_deployment_for_user(user, owner: str, name: str) -> Deployment:
    """The deployment if `user` is a member of its owner; a 404 otherwise (never a hint)."""
    deployment = (
        Deployment.objects.visible_to(user)
        .select_related(
            "owner__user",
            "owner__organization",
            "model__owner",
            "model__latest_version",
            "current_release__version",
            "current_release__hardware",
        )
        .filter(owner__name__iexact=owner, name__iexact=name)
        .first()
    )
    if deployment is None or not deployment.can_manage(user):
        raise Http404("No such deployment")
    return deployment


def _partial(request, target: str) -> bool:
    return (
        bool(request.htmx)
        and not request.htmx.history_restore_request
        and (request.htmx.target == target)
    )


# --- the list and Create ----------------------------------------------------------------------


@login_required
@require_GET
def deployment_list(request):
    """The working account's deployments (`?account=` one of the user's), or `?all=1`: those
    of every account the user is a member of."""
    accounts = acting_accounts(request.user)
    wanted = request.GET.get("account", "").strip()
    if wanted and find_acting_account(accounts, wanted) is None:
        raise Http404("No such account of yours.")
    show_all = request.GET.get("all") == "1" and not wanted
    account = None if show_all else current_account(request, accounts)
    deployments = Deployment.objects.visible_to(request.user)
    if account is not None:
        deployments = deployments.filter(owner=account)
    deployments = with_online_counts(
        deployments.select_related(
            "owner", "model__owner", "current_release__hardware", "current_release__version"
        )
    ).order_by("owner__name", "name")
    deployments = list(deployments)
    for deployment in deployments:
        deployment.state = deployment_state(deployment, deployment.online)
    context = {"accounts": accounts, "account": account, "deployments": deployments}
    return render(request, "deployments/list.html", context)


def _create_initial(request, accounts) -> dict:
    """`?model=owner/name` and `?version=<digest>` from a Deploy button; the name defaults to
    the model's, the hardware to the model's default."""
    ref = request.GET.get("model", "").strip()
    initial = {
        "owner": current_account(request, accounts).name,
        "model": ref,
        "version": request.GET.get("version", "").strip(),
        "hardware": "cpu",
        "min_instances": 0,
        "max_instances": 1,
    }
    if ref.count("/") == 1:
        model_owner, model_name = ref.split("/")
        initial["name"] = model_name.lower()
        model = (
            Model.objects.visible_to(request.user)
            .select_related("default_hardware")
            .filter(owner__name__iexact=model_owner, name__iexact=model_name)
            .first()
        )
        if model is not None and model.default_hardware_id:
            initial["hardware"] = model.default_hardware.sku
    return initial


def _attempt(form, check, *args):
    """`check(*args)`, or None with its problem put beside its field."""
    try:
        return check(*args)
    except DeploymentProblem as problem:
        add_problem(form, problem)
        return None


def _create(request, form: DeploymentCreateForm) -> Deployment | None:
    """Every check at once, so that each problem shows beside its field; then create."""
    data, owner = form.cleaned_data, form.owner_account
    _attempt(form, services.check_name, owner, data["name"])
    model = _attempt(form, services.resolve_model, owner, data["model"].strip())
    version = model and _attempt(
        form, services.resolve_version, model, data["version"].strip() or None
    )
    hardware = _attempt(form, services.resolve_hardware, data["hardware"])
    config = _attempt(
        form,
        services.check_config,
        version,
        hardware,
        data["min_instances"],
        data["max_instances"],
    )
    if form.errors:
        return None
    return _attempt(
        form,
        lambda: services.deployment_create(
            owner=owner,
            name=data["name"],
            model=model,
            config=config,
            by=request.user.account,
            user=request.user,
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_create(request):
    accounts = acting_accounts(request.user)
    status = 200
    if request.method == "POST":
        form = DeploymentCreateForm(request.POST, accounts=accounts)
        if form.is_valid() and (deployment := _create(request, form)) is not None:
            messages.success(request, f"{deployment.full_name} is deployed: release 1.")
            return redirect("deployment", owner=deployment.owner.name, name=deployment.name)
        status = 422
    else:
        form = DeploymentCreateForm(initial=_create_initial(request, accounts), accounts=accounts)
    context = {"form": form, "estimate": form.estimate()}
    return render(request, "deployments/create.html", context, status=status)


@login_required
@require_GET
def deployment_estimate(request):
    """The cost line under the hardware and instance fields, as they change (htmx)."""
    given = request.GET
    found = estimate(given.get("hardware"), given.get("min_instances"), given.get("max_instances"))
    return render(request, "deployments/_estimate.html", {"estimate": found})


# --- one deployment ---------------------------------------------------------------------------


def _detail_context(request, deployment: Deployment, **overrides) -> dict:
    release = deployment.current_release
    version = release.version
    window = WINDOWS.get(request.GET.get("window", ""), WINDOWS["hour"])
    predictions = (
        Prediction.objects.visible_to(request.user)
        .filter(deployment=deployment.full_name)
        .only(*PREDICTION_ROW_FIELDS)
        .order_by("-created_at", "-pk")[:PREDICTIONS_SHOWN]
    )
    settings_form = DeploymentSettingsForm(
        initial=release.configuration, model=deployment.model, current_digest=version.digest
    )
    context = {
        **instance_panel(deployment),
        "release": release,
        "window": window,
        "windows": WINDOWS.values(),
        "charts": deployment_charts(deployment, window),
        "snippets": deployment_snippets(
            base_url=public_base(request),
            owner=deployment.owner.name,
            name=deployment.name,
            inputs=snippet_input(version.openapi_schema),
        ),
        "run_form": PlaygroundForm(version.openapi_schema),
        "predictions": predictions,
        "releases": release_rows(deployment),
        "settings_form": settings_form,
    }
    if deployment.owner.is_admin(request.user):  # money is for the owners only
        context["month_spend"] = deployment_month_spend(deployment)
    context.update(overrides)
    context["estimate"] = context["settings_form"].estimate()
    return context


def _detail(request, deployment: Deployment, *, status: int = 200, **overrides):
    context = _detail_context(request, deployment, **overrides)
    return render(request, DETAIL, context, status=status)


@login_required
@require_GET
def deployment_detail(request, owner: str, name: str):
    deployment = get_deployment_for_user(request.user, owner, name)
    if _partial(request, "charts"):
        window = WINDOWS.get(request.GET.get("window", ""), WINDOWS["hour"])
        context = {
            "deployment": deployment,
            "window": window,
            "windows": WINDOWS.values(),
            "charts": deployment_charts(deployment, window),
        }
        response = render(request, DETAIL + "#charts", context)
    else:
        response = _detail(request, deployment)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@login_required
@require_GET
def deployment_instances(request, owner: str, name: str):
    """The live instances fragment the page polls every 2 s."""
    deployment = get_deployment_for_user(request.user, owner, name)
    return render(request, DETAIL + "#instances", instance_panel(deployment))


@login_required
@require_POST
def deployment_run(request, owner: str, name: str):
    """Run the form generated from the current release's inputs: a web prediction on the
    deployment, owned by the deployment's account; then its page."""
    deployment = get_deployment_for_user(request.user, owner, name)
    schema = deployment.current_release.version.openapi_schema
    form = PlaygroundForm(schema, data=request.POST, files=request.FILES)
    if not form.is_valid():
        return _detail(request, deployment, status=422, run_form=form)
    try:
        with transaction.atomic():
            prediction = services.deployment_predict(
                deployment,
                owner=deployment.owner,
                input=form.cleaned_data["input"],
                created_by=request.user,
                source=Prediction.Source.WEB,
            )
    except DeploymentProblem as problem:
        return _detail(request, deployment, status=problem.status, run_error=problem.message)
    except SpendLimitReached as refusal:
        return _detail(request, deployment, status=402, run_error=refusal.detail)
    return redirect("prediction_detail", prediction_id=prediction.id)


@login_required
@require_POST
def deployment_settings(request, owner: str, name: str):
    """A new release from the settings form."""
    deployment = get_deployment_for_user(request.user, owner, name)
    form = DeploymentSettingsForm(
        request.POST,
        model=deployment.model,
        current_digest=deployment.current_release.version.digest,
    )
    if form.is_valid():
        data = form.cleaned_data
        changes = {key: data[key] for key in services.CONFIG_FIELDS}
        try:
            release = services.deployment_update(
                deployment, changes, by=request.user.account, user=request.user
            )
        except DeploymentProblem as problem:
            add_problem(form, problem)
        else:
            messages.success(request, f"Release {release.number} is now current.")
            return redirect("deployment", owner=deployment.owner.name, name=deployment.name)
    return _detail(request, deployment, status=422, settings_form=form)


@login_required
@require_POST
def deployment_rollback(request, owner: str, name: str):
    deployment = get_deployment_for_user(request.user, owner, name)
    try:
        number = int(request.POST.get("number", ""))
    except ValueError:
        raise Http404("No such release") from None
    try:
        release = services.deployment_rollback(
            deployment, number, by=request.user.account, user=request.user
        )
    except DeploymentProblem as problem:
        return _detail(request, deployment, status=problem.status, rollback_error=problem.message)
    messages.success(
        request, f"Rolled back: release {release.number} has the configuration of #{number}."
    )
    return redirect("deployment", owner=deployment.owner.name, name=deployment.name)


@login_required
@require_POST
def deployment_disable(request, owner: str, name: str):
    """`disabled=1` disables (cancelling what waits or runs), `disabled=0` enables."""
    deployment = get_deployment_for_user(request.user, owner, name)
    disabled = request.POST.get("disabled") == "1"
    if disabled != deployment.disabled:
        services.deployment_set_disabled(deployment, disabled)
    if disabled:
        messages.success(
            request, f"{deployment.full_name} is disabled: what was queued or running is canceled."
        )
    else:
        messages.success(request, f"{deployment.full_name} is enabled.")
    return redirect("deployment", owner=deployment.owner.name, name=deployment.name)


@login_required
@require_POST
def deployment_delete(request, owner: str, name: str):
    deployment = get_deployment_for_user(request.user, owner, name)
    full_name = deployment.full_name
    try:
        services.deployment_delete(deployment)
    except DeploymentProblem as problem:
        return _detail(request, deployment, status=problem.status, delete_error=problem.message)
    messages.success(request, f"{full_name} is deleted.")
    return redirect("deployments")
