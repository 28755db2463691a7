from __future__ import annotations

from django import forms
from django.conf import settings

from apps.billing.models import Hardware
from apps.catalog.models import Model
from apps.files.uploads import COVER_MAX_BYTES

COVER_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


class ModelSettingsForm(forms.ModelForm):
    default_hardware = forms.ModelChoiceField(
        queryset=Hardware.objects.all(),
        required=False,
        label="Hardware",
        help_text="Predictions run on workers serving this hardware's queue.",
    )

    class Meta:
        model = Model
        fields = [
            "description",
            "visibility",
            "default_hardware",
            "cover_image",
            "github_url",
            "paper_url",
            "license_url",
            "readme",
        ]
        widgets = {"readme": forms.Textarea(attrs={"rows": 12}), "description": forms.TextInput()}

    def clean_cover_image(self):
        image = self.cleaned_data.get("cover_image")
        if image and hasattr(image, "content_type"):
            if image.content_type not in COVER_TYPES:
                raise forms.ValidationError("Upload a PNG, JPEG, WebP or GIF image.")
            if image.size > COVER_MAX_BYTES:
                raise forms.ValidationError("The cover image must be smaller than 5 MB.")
        return image


class PushForm(forms.Form):
    archive = forms.FileField(
        help_text="A .zip or .tar.gz of the model directory (cog.yaml at its top level).",
    )

    def clean_archive(self):
        archive = self.cleaned_data["archive"]
        if archive.size > settings.MAX_VERSION_ARCHIVE_BYTES:
            limit = settings.MAX_VERSION_ARCHIVE_BYTES // 2**20
            raise forms.ValidationError(f"The archive must be smaller than {limit} MB.")
        return archive
