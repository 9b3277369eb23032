"""Users stored with a punycode domain take the Unicode spelling (``portal.emails``) their sign-ins
look them up by; one whose Unicode spelling another user of the same portal has is left as it is."""

from django.db import migrations
from django.db.models.functions import Lower

from portal.emails import normalize_email


def forwards(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for user in User.objects.filter(email__contains="xn--").only("pk", "email", "portal_id"):
        address = normalize_email(user.email)
        if address == user.email:
            continue
        if not User.objects.annotate(email_lower=Lower("email")).filter(email_lower=address).exists():
            User.objects.filter(pk=user.pk).update(email=address)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_login_code_failure_day")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
