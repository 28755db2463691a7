from __future__ import annotations

import math
import time

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.forms import UserCreationForm as DjangoUserCreationForm
from django.core.exceptions import ValidationError

from apps.accounts.models import Membership, Organization, User, validate_new_name
from apps.core.redis import client as redis_client


class ThrottledLoginForm(AuthenticationForm):
    """The login form, with failed attempts counted per account name and per client address
    (LOGIN_FAILURE_LIMIT / LOGIN_FAILURE_LIMIT_PER_ADDRESS in LOGIN_FAILURE_WINDOW seconds):
    past the limit, even the right password is refused until the window ends, so passwords
    cannot be guessed at the speed of the server."""

    def clean(self):
        window = settings.LOGIN_FAILURE_WINDOW
        bucket = int(time.time() // window)
        name = (self.data.get("username") or "").strip().lower()[:150]
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        keys = {
            f"selfrep:login-failures:name:{name}:{bucket}": settings.LOGIN_FAILURE_LIMIT,
            f"selfrep:login-failures:addr:{address}:{bucket}": (
                settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS
            ),
        }
        counts = redis_client().mget(list(keys))
        if any(
            int(count or 0) >= limit for count, limit in zip(counts, keys.values(), strict=True)
        ):
            minutes = math.ceil((window - time.time() % window) / 60)
            raise ValidationError(
                f"Too many failed attempts to log in. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}.",
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            pipe = redis_client().pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, window)
            pipe.execute()
            raise


class SignupForm(DjangoUserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional. For password resets later.")

    class Meta:
        model = User
        fields = ("username", "email")
        help_texts = {
            "username": "Your account name in URLs: /you/model-name. "
            "Letters, digits, hyphens and underscores."
        }

    def clean_username(self):
        username = self.cleaned_data["username"]
        validate_new_name(username)
        return username


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("name", "email", "github_url")


class OrganizationForm(forms.Form):
    name = forms.CharField(
        max_length=39, help_text="Used in URLs: /name/model-name. Shares the namespace with users."
    )
    display_name = forms.CharField(max_length=150, required=False)

    def clean_name(self):
        name = self.cleaned_data["name"]
        validate_new_name(name)
        return name


class OrganizationProfileForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ("display_name", "github_url")


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=39)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “laptop” or “CI”.")
