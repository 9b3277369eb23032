"""Item 7: credentials are encrypted at rest, rotate with the key list, and never reach the admin page."""

import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from portal import crypto
from sso.models import SSOConfig
from sso.services import sso_config_create
from tests.factories import SSOConfigFactory

SECRET = "s3cr3t-client-secret-value"


def raw_secret(config) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM sso_ssoconfig WHERE id = %s", [config.pk])
        return cursor.fetchone()[0]


def test_client_secret_is_a_fernet_token_in_the_database(portal):
    config = sso_config_create(
        portal=portal, issuer="https://acme.halopsa.example/auth", client_id="portal", client_secret=SECRET
    )

    stored = raw_secret(config)
    assert SECRET not in stored
    assert crypto.decrypt(stored) == SECRET
    assert SSOConfig.objects.get(pk=config.pk).client_secret == SECRET


def test_an_empty_secret_stays_empty_and_filterable(portal):
    config = SSOConfigFactory(portal=portal, client_secret="")

    assert raw_secret(config) == ""
    assert SSOConfig.objects.filter(client_secret="").get() == config


def test_each_encryption_differs_so_equal_secrets_do_not_show_in_the_database(portal, other_portal):
    a = SSOConfigFactory(portal=portal, client_secret=SECRET)
    b = SSOConfigFactory(portal=other_portal, client_secret=SECRET)

    assert raw_secret(a) != raw_secret(b)


def test_rotate_secrets_re_encrypts_with_the_newest_key(portal, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old]
    config = SSOConfigFactory(portal=portal, client_secret=SECRET)
    public = SSOConfigFactory(portal=portal, client_secret="")

    settings.FIELD_ENCRYPTION_KEY = [new, old]
    assert SSOConfig.objects.get(pk=config.pk).client_secret == SECRET  # old rows still readable
    out = []
    call_command("rotate_secrets", stdout=type("W", (), {"write": lambda self, s: out.append(s)})())

    assert json.loads("".join(out))["rotated"]["sso.SSOConfig.client_secret"] == 1
    settings.FIELD_ENCRYPTION_KEY = [new]  # the old key is gone: everything still decrypts
    assert SSOConfig.objects.get(pk=config.pk).client_secret == SECRET
    assert SSOConfig.objects.get(pk=public.pk).client_secret == ""
    assert Fernet(new.encode()).decrypt(raw_secret(config).encode()).decode() == SECRET


def test_a_removed_key_is_a_clear_error_without_the_value(portal, settings):
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    config = SSOConfigFactory(portal=portal, client_secret=SECRET)
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]

    with pytest.raises(crypto.DecryptionError) as excinfo:
        SSOConfig.objects.get(pk=config.pk)
    assert "FIELD_ENCRYPTION_KEY" in str(excinfo.value)
    assert SECRET not in str(excinfo.value)
    assert raw_secret(config) not in str(excinfo.value)


def test_a_malformed_key_fails_the_system_check(settings):
    from portal.checks import field_encryption_key_check

    settings.FIELD_ENCRYPTION_KEY = ["not-a-fernet-key"]

    errors = field_encryption_key_check(None)
    assert [e.id for e in errors] == ["portal.E001"]
    assert "not a Fernet key" in errors[0].msg


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_plaintext_secrets():
    executor = MigrationExecutor(connection)
    before, after = [("sso", "0003_provider_documents")], [("sso", "0004_encrypt_client_secret")]
    executor.migrate(before)
    try:
        old_apps = executor.loader.project_state(before).apps
        Portal = old_apps.get_model("portal", "Portal")
        OldConfig = old_apps.get_model("sso", "SSOConfig")
        portal = Portal.objects.create(name="Acme", url="http://acme.localhost:8000", host="acme.localhost")
        row = OldConfig.objects.create(
            portal=portal, key="k1", issuer="https://a.example/auth", client_id="c", client_secret=SECRET
        )
        OldConfig.objects.create(
            portal=portal, key="k2", issuer="https://b.example/auth", client_id="c", client_secret=""
        )

        executor = MigrationExecutor(connection)
        executor.migrate(after)

        with connection.cursor() as cursor:
            cursor.execute("SELECT key, client_secret FROM sso_ssoconfig ORDER BY key")
            rows = dict(cursor.fetchall())
        assert SECRET not in rows["k1"]
        assert crypto.decrypt(rows["k1"]) == SECRET
        assert rows["k2"] == ""

        executor = MigrationExecutor(connection)
        executor.migrate(before)  # reversible: back to plain text
        with connection.cursor() as cursor:
            cursor.execute("SELECT client_secret FROM sso_ssoconfig WHERE id = %s", [row.pk])
            assert cursor.fetchone()[0] == SECRET
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
