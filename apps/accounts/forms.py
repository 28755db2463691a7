from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm as DjangoUserCreationForm

from apps.accounts.models import Membership, Organization, User
from apps.accounts.names import validate_new_name


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
