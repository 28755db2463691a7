from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts import services
from apps.accounts.context import (
    acting_accounts,
    current_account,
    find_acting_account,
    set_current_account,
)
from apps.accounts.forms import (
    MemberAddForm,
    OrganizationForm,
    OrganizationProfileForm,
    ProfileForm,
    RoleForm,
    SignupForm,
    TokenForm,
)
from apps.accounts.models import Account, ApiToken, Membership, Organization
from apps.core.links import public_base


def _apply_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("account")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}! Your account is ready.")
            return redirect("account")
    return render(
        request, "accounts/signup.html", {"form": form}, status=422 if form.errors else 200
    )


# --- Personal account ------------------------------------------------------------------


def _account_page(
    request, *, profile_form=None, token_form=None, new_token=None, webhook_secret=None, status=200
):
    account = request.user.account
    accounts = acting_accounts(request.user)
    context = {
        "profile_form": profile_form or ProfileForm(instance=request.user),
        "tokens_context": _tokens_context(request, account, token_form, new_token),
        "memberships": request.user.memberships.select_related("organization"),
        "acting_accounts": accounts,
        "acting_account": current_account(request, accounts),
        "webhook": _webhook_context(account, webhook_secret),
        "base_url": public_base(request),
    }
    return render(request, "accounts/account.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def account(request):
    if request.method == "POST":
        form = ProfileForm(request.POST, instance=request.user)
        if form.is_valid():
            form.save()
            messages.success(request, "Profile saved.")
            return redirect("account")
        return _account_page(request, profile_form=form, status=422)
    return _account_page(request)


# --- API tokens (personal and organization) --------------------------------------------


def _tokens_context(request, account: Account, form=None, new_token=None) -> dict:
    return {
        "account": account,
        "tokens": account.tokens.active().select_related("created_by"),
        "can_manage": account.is_admin(request.user),
        "form": form or TokenForm(),
        "new_token": new_token,
        "create_url": _tokens_url(account),
    }


def _tokens_url(account: Account) -> str:
    if account.type == Account.Type.USER:
        return reverse("token_create")
    return reverse("organization_token_create", args=[account.name])


def _token_account(request, org_name: str | None) -> Account:
    if org_name is None:
        return request.user.account
    organization, _membership = _get_organization(request, org_name)
    account = organization.account
    if not account.is_admin(request.user):
        raise PermissionDenied("Only owners can manage the organization's tokens.")
    return account


def _tokens_response(request, account: Account, *, form=None, new_token=None, status=200):
    if request.htmx:
        context = _tokens_context(request, account, form, new_token)
        return render(request, "accounts/_tokens.html", context, status=status)
    if account.type == Account.Type.USER:
        return _account_page(request, token_form=form, new_token=new_token, status=status)
    return _organization_page(
        request, account.organization, token_form=form, new_token=new_token, status=status
    )


@login_required
@require_POST
def token_create(request, org_name: str | None = None):
    account = _token_account(request, org_name)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_response(request, account, form=form, status=422)
    try:
        _token, raw = services.token_create(
            account=account, name=form.cleaned_data["name"], created_by=request.user
        )
    except ValidationError as error:
        _apply_errors(form, error)
        return _tokens_response(request, account, form=form, status=422)
    # Shown once, in this response only: it is never stored in a readable form.
    return _tokens_response(request, account, new_token=raw, status=201 if request.htmx else 200)


@login_required
@require_POST
def token_revoke(request, token_id: int, org_name: str | None = None):
    account = _token_account(request, org_name)
    token = get_object_or_404(ApiToken, pk=token_id, account=account)
    token.revoke()
    if request.htmx:
        return _tokens_response(request, account)
    messages.success(request, f"Token “{token.name}” revoked.")
    if org_name:
        return redirect("organization", org_name=account.name)
    return redirect("account")


# --- Organizations ---------------------------------------------------------------------


def _get_organization(request, name: str) -> tuple[Organization, Membership]:
    """The organization and the user's membership; outsiders get a 404, not a hint."""
    organization = get_object_or_404(Organization, name__iexact=name)
    membership = organization.membership_for(request.user)
    if membership is None:
        raise Http404("No such organization")
    return organization, membership


def _require_owner(membership: Membership) -> None:
    if not membership.is_owner:
        raise PermissionDenied("Only owners can do this.")


@login_required
@require_http_methods(["GET", "POST"])
def organization_list(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(
                name=form.cleaned_data["name"],
                display_name=form.cleaned_data["display_name"],
                owner=request.user,
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, f"Organization {organization.name} created.")
            return redirect("organization", org_name=organization.name)
    memberships = request.user.memberships.select_related("organization")
    return render(
        request,
        "accounts/organizations.html",
        {"form": form, "memberships": memberships},
        status=422 if form.errors else 200,
    )


def _organization_page(
    request,
    organization,
    *,
    token_form=None,
    new_token=None,
    add_form=None,
    profile_form=None,
    member_error=None,
    webhook_secret=None,
    status=200,
):
    membership = organization.membership_for(request.user)
    context = {
        "webhook": _webhook_context(organization.account, webhook_secret),
        "organization": organization,
        "membership": membership,
        "members": organization.memberships.select_related("user"),
        "add_form": add_form or MemberAddForm(),
        "profile_form": profile_form or OrganizationProfileForm(instance=organization),
        "member_error": member_error,
        "roles": Membership.Role.choices,
        "tokens_context": _tokens_context(request, organization.account, token_form, new_token),
    }
    template = "accounts/organization.html"
    if request.htmx and (add_form is not None or member_error is not None):
        template += "#members"
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def organization_detail(request, org_name: str):
    organization, membership = _get_organization(request, org_name)
    if request.method == "POST":
        _require_owner(membership)
        form = OrganizationProfileForm(request.POST, instance=organization)
        if form.is_valid():
            form.save()
            messages.success(request, "Organization saved.")
            return redirect("organization", org_name=organization.name)
        return _organization_page(request, organization, profile_form=form, status=422)
    return _organization_page(request, organization)


def _members_done(request, organization, message: str):
    if request.htmx:
        return _organization_page(request, organization, add_form=MemberAddForm())
    messages.success(request, message)
    return redirect("organization", org_name=organization.name)


def _members_failed(request, organization, error: ValidationError):
    text = " ".join(error.messages)
    if request.htmx:
        return _organization_page(request, organization, member_error=text, status=422)
    messages.error(request, text)
    return redirect("organization", org_name=organization.name)


@login_required
@require_POST
def member_add(request, org_name: str):
    organization, membership = _get_organization(request, org_name)
    _require_owner(membership)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            added = services.membership_add(
                organization=organization,
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            return _members_done(request, organization, f"{added.user.username} added.")
    return _organization_page(request, organization, add_form=form, status=422)


def _get_member(organization: Organization, username: str) -> Membership:
    return get_object_or_404(
        organization.memberships.select_related("user", "organization"),
        user__username__iexact=username,
    )


@login_required
@require_POST
def member_role(request, org_name: str, username: str):
    organization, membership = _get_organization(request, org_name)
    _require_owner(membership)
    target = _get_member(organization, username)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _members_failed(request, organization, ValidationError("Choose owner or member."))
    try:
        services.membership_set_role(membership=target, role=form.cleaned_data["role"])
    except ValidationError as error:
        return _members_failed(request, organization, error)
    return _members_done(request, organization, f"{target.user.username} is now {target.role}.")


@login_required
@require_POST
def member_remove(request, org_name: str, username: str):
    organization, membership = _get_organization(request, org_name)
    _require_owner(membership)
    target = _get_member(organization, username)
    try:
        services.membership_remove(membership=target)
    except ValidationError as error:
        return _members_failed(request, organization, error)
    if target.user_id == request.user.pk:
        messages.success(request, f"You left {organization.name}.")
        if request.htmx:
            return HttpResponseClientRedirect(reverse("organizations"))
        return redirect("organizations")
    return _members_done(request, organization, f"{target.user.username} removed.")


@login_required
@require_POST
def organization_leave(request, org_name: str):
    organization, membership = _get_organization(request, org_name)
    try:
        services.membership_remove(membership=membership, leaving=True)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("organization", org_name=organization.name)
    messages.success(request, f"You left {organization.name}.")
    return redirect("organizations")


# --- Working context ---------------------------------------------------------------------


def _dashboard_url(account: Account) -> str:
    url = reverse("dashboard")
    return url if account.user_id else f"{url}?{urlencode({'account': account.name})}"


@login_required
@require_POST
def account_context(request):
    """Switch the account the user works as; only their own and their organizations'."""
    account = find_acting_account(acting_accounts(request.user), request.POST.get("account", ""))
    if account is None:
        raise Http404("No such account of yours")
    set_current_account(request, account)
    target = request.POST.get("next", "")
    if target and request.htmx and request.htmx.current_url_abs_path:
        # The page may have moved on (an htmx tab switch) since `next` was rendered.
        target = request.htmx.current_url_abs_path
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = _dashboard_url(account)
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


# --- Webhook signing secret ------------------------------------------------------------


def _webhook_context(account: Account, secret: str | None = None) -> dict:
    if account.user_id:
        reveal_url = reverse("webhook_secret")
    else:
        reveal_url = reverse("organization_webhook_secret", args=[account.name])
    return {"account": account, "secret": secret, "reveal_url": reveal_url}


@never_cache
@login_required
@require_POST
def webhook_secret(request, org_name: str | None = None):
    """Reveal the signing secret: it is only in the page after this POST (owners only for
    organizations), never in a cached response."""
    if org_name is None:
        account = request.user.account
    else:
        organization, membership = _get_organization(request, org_name)
        if not membership.is_owner:
            raise PermissionDenied("Only owners can see the organization's webhook secret.")
        account = organization.account
    secret = account.webhook_signing_secret()
    if request.htmx:
        context = _webhook_context(account, secret)
        return render(request, "accounts/_webhook_secret.html", {"webhook": context})
    if org_name is None:
        return _account_page(request, webhook_secret=secret)
    return _organization_page(request, account.organization, webhook_secret=secret)


# --- Avatars ---------------------------------------------------------------------------

_AVATAR_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">
<rect width="96" height="96" rx="{radius}" fill="hsl({hue} 55% 45%)"/>
<text x="48" y="60" font-family="system-ui,sans-serif" font-size="40" font-weight="600"
 text-anchor="middle" fill="#fff">{initial}</text></svg>"""


@require_GET
@cache_control(max_age=3600, public=True)
def avatar(request, name: str):
    account = get_object_or_404(Account, name__iexact=name)
    hue = int(hashlib.sha256(account.name.lower().encode()).hexdigest()[:4], 16) % 360
    svg = _AVATAR_SVG.format(
        hue=hue,
        initial=escape(account.name[0].upper()),
        radius=48 if account.type == Account.Type.USER else 16,
    )
    return HttpResponse(svg, content_type="image/svg+xml")
