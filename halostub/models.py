"""The stand-in's own data besides django-oauth-toolkit's and Django's users."""

from django.db import models


class PortalLink(models.Model):
    """A custom link on the stand-in's customer-portal page, like HaloPSA's portal custom links.

    The demo adds "Billing" pointing at the billing portal's SSO login URL: clicking it while signed
    in here is the prompt-free deep login the product promises.
    """

    label = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label
