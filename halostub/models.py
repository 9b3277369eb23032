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


class ApiClient(models.Model):
    """A HaloPSA client (schema ``Area``): the portal's customer."""

    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=200)
    inactive = models.BooleanField(default=False)
    toplevel_id = models.IntegerField(default=1)
    last_update = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.name)


class ApiUser(models.Model):
    """A HaloPSA user: a customer's contact, with the "Can view their invoices" permission."""

    id = models.IntegerField(primary_key=True)
    name = models.CharField(max_length=200, blank=True)
    emailaddress = models.CharField(max_length=254, blank=True)
    client_id = models.IntegerField(db_index=True)
    site_id = models.IntegerField(default=1)
    inactive = models.BooleanField(default=False)
    canaccessinvoices = models.BooleanField(default=True)
    last_update = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.emailaddress)


class ApiInvoice(models.Model):
    """A HaloPSA invoice header (schema ``InvoiceHeader``) with its lines as JSON."""

    id = models.IntegerField(primary_key=True)
    invoicenumber = models.CharField(max_length=50)
    client_id = models.IntegerField(db_index=True)
    site_id = models.IntegerField(default=1)
    invoice_date = models.DateField()
    duedate = models.DateField()
    total = models.DecimalField(max_digits=12, decimal_places=2)
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    amountpaid = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    paymentstatus = models.IntegerField(default=0)
    currency_code = models.CharField(max_length=3, default="USD")
    posted = models.BooleanField(default=True)
    last_modified = models.DateTimeField(db_index=True)
    lines = models.JSONField(default=list)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.invoicenumber)


class ApiPayment(models.Model):
    """An invoice payment, as listed by ``GET /api/InvoicePayment`` and recorded by its POST."""

    invoice_id = models.IntegerField(db_index=True)
    client_id = models.IntegerField(default=0)
    date = models.DateTimeField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    method = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=30, blank=True)
    intent_id = models.CharField(max_length=200, blank=True)
    thirdpartyid = models.CharField(max_length=200, blank=True)
    posted_body = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.thirdpartyid)


class ApiWebhook(models.Model):
    """A registered webhook (``/api/Webhook``) and the stand-in's delivery log in ``deliveries``."""

    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    authentication_type = models.CharField(max_length=10, default="header")  # "basic" or "header"
    basic_username = models.CharField(max_length=200, blank=True)
    basic_password = models.CharField(max_length=500, blank=True)
    authentication_header = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return str(self.url)
