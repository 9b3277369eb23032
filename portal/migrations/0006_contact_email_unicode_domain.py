"""Contacts stored with a punycode domain (``anna@xn--bcher-kva.example``) take the Unicode spelling
every other path now uses (``portal.emails``), so the code login and the invoice list find them. A row
whose Unicode spelling another contact of the same customer already has is left as it is."""

from django.db import migrations
from django.db.models.functions import Lower

from portal.emails import normalize_email


def forwards(apps, schema_editor):
    Contact = apps.get_model("portal", "Contact")
    for contact in Contact.objects.filter(email__contains="xn--").only("pk", "email", "customer_id"):
        address = normalize_email(contact.email)
        if address == contact.email:
            continue
        taken = (
            Contact.objects.annotate(email_lower=Lower("email"))
            .filter(customer_id=contact.customer_id, email_lower=address)
            .exists()
        )
        if not taken:
            Contact.objects.filter(pk=contact.pk).update(email=address)


class Migration(migrations.Migration):
    dependencies = [("portal", "0005_payment_halo_recorded_at")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
