"""Item 8: a daily beat task prunes old events and expired sessions, codes and verifications.

Seen: anonymous requests grew SSOEvent, AuditEvent and session rows without end.
"""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts import tasks as accounts_tasks
from accounts.models import AuditEvent, EmailVerification, Identity, LoginCode
from portal import tasks as portal_tasks
from portal.celery import app
from sso import tasks as sso_tasks
from sso.models import SSOEvent

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def test_beat_runs_every_prune_daily():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}

    assert {
        "sso.tasks.prune_old_events",
        "accounts.tasks.prune_old_records",
        "portal.tasks.prune_expired_sessions",
    } <= tasks


def test_events_older_than_the_retention_are_pruned(portal, settings):
    settings.EVENT_RETENTION_DAYS = 180
    now = timezone.now()
    old_sso = SSOEvent.objects.create(portal=portal, outcome="failure", created_at=now - 181 * DAY)
    kept_sso = SSOEvent.objects.create(portal=portal, outcome="failure", created_at=now - 179 * DAY)
    old_audit = AuditEvent.objects.create(portal=portal, kind="x", created_at=now - 181 * DAY)
    kept_audit = AuditEvent.objects.create(portal=portal, kind="x", created_at=now - 179 * DAY)

    assert sso_tasks.prune_old_events.delay().get() == 1
    accounts_tasks.prune_old_records.delay()

    assert list(SSOEvent.objects.all()) == [kept_sso]
    assert list(AuditEvent.objects.all()) == [kept_audit]
    assert not SSOEvent.objects.filter(pk=old_sso.pk).exists()
    assert not AuditEvent.objects.filter(pk=old_audit.pk).exists()


def test_the_retention_is_a_setting(portal, settings):
    settings.EVENT_RETENTION_DAYS = 7
    SSOEvent.objects.create(portal=portal, outcome="failure", created_at=timezone.now() - 8 * DAY)

    sso_tasks.prune_old_events.delay()

    assert not SSOEvent.objects.exists()


def test_expired_codes_and_verifications_are_pruned_live_ones_kept(portal):
    now = timezone.now()
    expired_code = LoginCode.objects.create(portal=portal, email="a@example.com", expires_at=now - 2 * DAY)
    live_code = LoginCode.objects.create(portal=portal, email="a@example.com", expires_at=now + 0.01 * DAY)
    unsent_old = LoginCode.objects.create(portal=portal, email="a@example.com", created_at=now - 2 * DAY)
    identity = Identity.objects.create(portal=portal, issuer="https://i.example", sub="s")
    expired_link = EmailVerification.objects.create(
        portal=portal, identity=identity, email="a@example.com", expires_at=now - 2 * DAY
    )
    live_link = EmailVerification.objects.create(
        portal=portal, identity=identity, email="a@example.com", expires_at=now + DAY
    )

    result = accounts_tasks.prune_old_records.delay().get()

    assert result == {"audit_events": 0, "login_codes": 2, "email_verifications": 1, "code_failure_days": 0}
    assert list(LoginCode.objects.all()) == [live_code]
    assert list(EmailVerification.objects.all()) == [live_link]
    assert not LoginCode.objects.filter(pk__in=[expired_code.pk, unsent_old.pk]).exists()
    assert not EmailVerification.objects.filter(pk=expired_link.pk).exists()
    assert Identity.objects.filter(pk=identity.pk).exists()


def test_expired_sessions_are_pruned():
    live = SessionStore()
    live["x"] = 1
    live.create()
    dead = SessionStore()
    dead["x"] = 1
    dead.create()
    Session.objects.filter(session_key=dead.session_key).update(expire_date=timezone.now() - DAY)

    portal_tasks.prune_expired_sessions.delay()

    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
