"""Client secrets move from plain text to Fernet tokens (FIELD_ENCRYPTION_KEY).

Three steps: widen the column to text (a token is longer than the 500-character secret), encrypt
every stored secret through the plain historical model, then switch the field class (no schema
change). Reversing decrypts them back.
"""

from django.db import migrations, models

import portal.fields


def encrypt_existing(apps, schema_editor):
    from portal import crypto

    SSOConfig = apps.get_model("sso", "SSOConfig")
    for pk, secret in SSOConfig.objects.exclude(client_secret="").values_list("pk", "client_secret"):
        SSOConfig.objects.filter(pk=pk).update(client_secret=crypto.encrypt(secret))


def decrypt_existing(apps, schema_editor):
    from portal import crypto

    SSOConfig = apps.get_model("sso", "SSOConfig")
    for pk, token in SSOConfig.objects.exclude(client_secret="").values_list("pk", "client_secret"):
        SSOConfig.objects.filter(pk=pk).update(client_secret=crypto.decrypt(token))


HELP = "Only if the HaloPSA application has a client secret. Leave empty for a public (PKCE) client."


class Migration(migrations.Migration):

    dependencies = [
        ("sso", "0003_provider_documents"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ssoconfig",
            name="client_secret",
            field=models.TextField(blank=True, help_text=HELP, max_length=500),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AlterField(
            model_name="ssoconfig",
            name="client_secret",
            field=portal.fields.EncryptedTextField(blank=True, help_text=HELP, max_length=500),
        ),
    ]
