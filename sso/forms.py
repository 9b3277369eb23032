"""The admin's SSO config form: the same rules as the services, and a write-only client secret.

The secret field is not bound to the model: the stored secret is never put into the page (not
even as a masked value), a blank field keeps it, and a separate checkbox clears it.
"""

from django import forms
from django.core.exceptions import ValidationError

from .models import SSOConfig
from .services import TESTED_FIELDS, config_needs_enable_confirmation
from .validators import CONFIG_FIELDS, sso_config_clean

#: The config's fields an admin edits in the form (the secret has its own write-only field).
EDITABLE_FIELDS = (
    "provider",
    "description",
    "issuer",
    "client_id",
    "scope",
    "tenant",
    "logout_redirect_url",
    "enabled",
    "show_button",
)

_model_field = SSOConfig._meta.get_field

SECRET_HELP_STORED = (
    "A secret is stored (it is never shown). Leave this blank to keep it, type a new one to replace it."
)
SECRET_HELP_NONE = (
    "Only if the HaloPSA application has a client secret (“Client ID and Secret” style). Leave empty "
    "for a public “Authorisation Code (Native application)” client, which uses PKCE instead."
)


class SSOConfigAdminForm(forms.ModelForm):
    # Plain text fields (not URLField): Django's URLField would quietly prepend http:// and give a
    # vaguer message; the shared validators say exactly what is wrong.
    issuer = forms.CharField(
        label="Issuer URL",
        max_length=_model_field("issuer").max_length,
        help_text=_model_field("issuer").help_text,
        widget=forms.TextInput(
            attrs={
                "class": "vTextField sso-wide",
                "placeholder": "https://<instance>.halopsa.com/auth",
                "spellcheck": "false",
                "autocomplete": "off",
                "inputmode": "url",
            }
        ),
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=True,
        max_length=_model_field("client_secret").max_length,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "class": "vTextField sso-wide"}
        ),
        help_text=SECRET_HELP_NONE,
    )
    clear_client_secret = forms.BooleanField(
        label="Clear the stored client secret",
        required=False,
        help_text="Tick to remove the stored secret (the application became a public PKCE client).",
    )
    confirm_enable = forms.BooleanField(
        label="Enable without a passing test",
        required=False,
        help_text="Only needed to enable a config that has not passed a Test connection with its current "
        "values: a broken config is a login button that fails for customers.",
    )
    logout_redirect_url = forms.CharField(
        label="Logout redirect URL",
        required=False,
        max_length=_model_field("logout_redirect_url").max_length,
        help_text=_model_field("logout_redirect_url").help_text,
        widget=forms.TextInput(
            attrs={
                "class": "vTextField sso-wide",
                "spellcheck": "false",
                "autocomplete": "off",
                "inputmode": "url",
            }
        ),
    )

    class Meta:
        model = SSOConfig
        # Not "client_secret": the model's value must never become the field's initial value.
        fields = ["portal", *EDITABLE_FIELDS]

    #: Set by the admin to the portal a staff user manages; None for superusers.
    admin_portal = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("client_id", "tenant", "scope"):
            if name in self.fields:
                self.fields[name].widget.attrs.update({"spellcheck": "false", "autocomplete": "off"})
        if "client_id" in self.fields:
            self.fields["client_id"].widget.attrs["class"] = "vTextField sso-wide"
        if self.instance.pk and self.instance.has_client_secret:
            self.fields["client_secret"].help_text = SECRET_HELP_STORED
            self.fields["client_secret"].widget.attrs["placeholder"] = "(stored; leave blank to keep)"

    def _portal(self):
        if self.admin_portal is not None:
            return self.admin_portal
        if self.instance.pk:
            return self.instance.portal
        return self.cleaned_data.get("portal")

    def clean(self):
        cleaned = super().clean()
        values = {
            name: cleaned[name] for name in CONFIG_FIELDS if name in cleaned and name != "client_secret"
        }
        secret = cleaned.get("client_secret") or ""
        if secret and cleaned.get("clear_client_secret"):
            self.add_error(
                "clear_client_secret", "Either type a new client secret or clear the stored one, not both."
            )
            return cleaned
        if secret:
            values["client_secret"] = secret
        if self._enabling_untested(cleaned, secret=secret) and not cleaned.get("confirm_enable"):
            self.add_error(
                "enabled",
                "This config has not passed a Test connection with these values. Test it, then enable it; "
                "or tick “Enable without a passing test” to turn it on anyway.",
            )
        try:
            normalised = sso_config_clean(
                portal=self._portal(), values=values, instance=self.instance if self.instance.pk else None
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        else:
            cleaned.update(normalised)
        return cleaned

    def _enabling_untested(self, cleaned: dict, *, secret: str) -> bool:
        """Turning the config on when no passing test covers the values being saved."""
        instance = self.instance if self.instance.pk else None
        if not cleaned.get("enabled"):
            return False
        if config_needs_enable_confirmation(config=instance, enabled=True):
            return True
        if instance.enabled:
            return False  # already live: editing it is not "enabling"
        edited = set(self.changed_data) | ({"client_secret"} if secret else set())
        if cleaned.get("clear_client_secret"):
            edited.add("client_secret")
        return bool(TESTED_FIELDS & edited)

    def secret_change(self) -> str | None:
        """What to do with the stored secret: a new value, "" to clear it, or None to keep it."""
        if self.cleaned_data.get("clear_client_secret"):
            return ""
        return self.cleaned_data.get("client_secret") or None
