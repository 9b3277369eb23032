"""Forms of the sign-in pages. Bounded inputs: oversized or malformed values are form errors."""

import re

from django import forms

_CODE_SEPARATORS = re.compile(r"[\s-]")


class EmailLoginForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True, "spellcheck": "false"}),
        error_messages={
            "required": "Enter your email address.",
            "invalid": "Enter a valid email address, like name@example.com.",
            "max_length": "That email address is too long.",
        },
    )


class LoginCodeForm(forms.Form):
    code = forms.CharField(
        label="6-digit code",
        max_length=20,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
        error_messages={
            "required": "Enter the 6-digit code from the email.",
            "max_length": "Enter the 6-digit code from the email.",
        },
    )

    def clean_code(self) -> str:
        code = _CODE_SEPARATORS.sub("", self.cleaned_data["code"])
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise forms.ValidationError("Enter the 6-digit code from the email.")
        return code
