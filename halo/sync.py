"""One sync run of a portal's HaloPSA data: full reconcile or incremental, one at a time per portal.

Order: clients, users, invoices, payments (each needs the one before). Every page is written in its own
transaction, so a failure keeps the pages already stored; the run records where it stopped and the
next full run resumes there. Nothing is ever deleted: after a complete full pass of a list, synced rows
HaloPSA no longer lists are marked inactive (customers, contacts) or void (invoices). A pass that read
fewer rows than HaloPSA counted (``client.Pages.complete``) marks nothing gone: a row missing from a
short answer is not a row deleted in HaloPSA.

Incremental runs read what changed since the last successful run's start minus an overlap (clock skew
and in-flight writes): clients and users by ``lastupdatefromdate``, invoices newest ``last_modified``
first until the rows are older than that, payments only of invoices whose amount paid changed.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from portal.invoice_figures import invoice_figures_changed
from portal.models import Contact, Customer, Invoice

from . import payment_upserts, upserts
from .client import HaloAPIError, HaloClient
from .models import HaloConnection, SyncRun
from .rows import datetime_value
from .sessions import invoice_access_sessions_end

logger = logging.getLogger(__name__)

#: (count key, API path, list key) in the order a run reads them.
KINDS = [
    ("customers", "Client", "clients"),
    ("contacts", "Users", "users"),
    ("invoices", "Invoice", "invoices"),
    ("payments", "InvoicePayment", "payments"),
]
MAX_INCREMENTAL_PAYMENT_READS = 50
#: At most this many invoices read again one by one at the end of a run (``_Run._reread_held``); any
#: beyond keep the portal's amounts until the next run reads them.
MAX_HELD_REREADS = 50


# --- the per-portal lease -------------------------------------------------------------------
def sync_lock_acquire(*, connection: HaloConnection) -> str | None:
    """Take the portal's sync lease (one conditional UPDATE, so two workers cannot both win)."""
    token, now = secrets.token_hex(16), timezone.now()
    taken = (
        HaloConnection.objects.filter(pk=connection.pk)
        .filter(Q(lock_until__isnull=True) | Q(lock_until__lt=now))
        .update(lock_token=token, lock_until=now + timedelta(seconds=settings.HALO_SYNC_LOCK_SECONDS))
    )
    return token if taken else None


def sync_lock_renew(*, connection: HaloConnection, token: str) -> None:
    until = timezone.now() + timedelta(seconds=settings.HALO_SYNC_LOCK_SECONDS)
    HaloConnection.objects.filter(pk=connection.pk, lock_token=token).update(lock_until=until)


def sync_lock_release(*, connection: HaloConnection, token: str) -> None:
    HaloConnection.objects.filter(pk=connection.pk, lock_token=token).update(lock_token="", lock_until=None)


# --- a run ----------------------------------------------------------------------------------
def halo_sync_run(*, connection: HaloConnection, full: bool = False, trigger: str = "") -> SyncRun:
    """Run one sync in this process and return its row (``status`` says how it went)."""
    connection.refresh_from_db()
    mode = SyncRun.Mode.FULL if full or connection.watermark is None else SyncRun.Mode.INCREMENTAL
    token = sync_lock_acquire(connection=connection)
    if token is None:
        return SyncRun.objects.create(
            connection=connection,
            portal_id=connection.portal_id,
            mode=mode,
            trigger=trigger,
            status=SyncRun.Status.SKIPPED,
            finished_at=timezone.now(),
            error="Another sync of this portal is running.",
        )
    now = timezone.now()
    run = SyncRun.objects.create(
        connection=connection,
        portal_id=connection.portal_id,
        mode=mode,
        trigger=trigger,
        started_at=now,
        generation_started_at=now,
    )
    client = HaloClient(connection)
    try:
        _Run(run=run, connection=connection, client=client, token=token).execute()
    except HaloAPIError as exc:
        _fail(run, client, exc.message)
    except Exception as exc:  # a bug must still end the run as failed, never leave it "running"
        logger.exception("HaloPSA sync failed", extra={"portal": connection.portal_id})
        _fail(run, client, f"Unexpected error: {exc.__class__.__name__}")
    finally:
        sync_lock_release(connection=connection, token=token)
    return run


def _fail(run: SyncRun, client: HaloClient, message: str) -> None:
    run.status, run.error, run.finished_at, run.api_calls = (
        SyncRun.Status.FAILED,
        message,
        timezone.now(),
        client.calls,
    )
    run.save(update_fields=["status", "error", "finished_at", "api_calls"])


class _Run:
    def __init__(self, *, run: SyncRun, connection: HaloConnection, client: HaloClient, token: str):
        self.run, self.connection, self.client, self.token = run, connection, client, token
        self.portal = connection.portal
        self.totals = {kind: upserts.Counts() for kind, _, _ in KINDS}
        #: Kinds whose full pass (this run's, or the failed run's it resumes) was not complete.
        self.incomplete: set[str] = set()

    def execute(self) -> None:
        run = self.run
        resume = self._resume_point() if run.mode == SyncRun.Mode.FULL else None
        if resume:
            run.generation_started_at = resume["generation"]
            run.save(update_fields=["generation_started_at"])
        if run.mode == SyncRun.Mode.FULL:
            self._full(resume)
        else:
            self._incremental()
        self._reread_held()
        ended = invoice_access_sessions_end(
            portal=self.portal, emails=self.totals["contacts"].revoked_emails, reason="halo_sync"
        )
        run.status, run.finished_at, run.cursor = SyncRun.Status.OK, timezone.now(), {}
        run.counts = {**self._counts(), "sessions_ended": ended}
        run.api_calls = self.client.calls
        if self.incomplete:
            run.error = (
                f"Finished, but HaloPSA listed fewer {', '.join(sorted(self.incomplete))} than it counted: "
                "none of those were marked gone this time."
            )
        run.save(update_fields=["status", "finished_at", "cursor", "counts", "api_calls", "error"])
        stamp = {"watermark": run.started_at}
        if run.mode == SyncRun.Mode.FULL:
            stamp["last_full_at"] = run.started_at
        HaloConnection.objects.filter(pk=self.connection.pk).update(**stamp)

    def _resume_point(self) -> dict | None:
        """A full run that failed after storing some pages is continued from the page it stopped at."""
        previous = (
            SyncRun.objects.filter(connection=self.connection, mode=SyncRun.Mode.FULL)
            .exclude(pk=self.run.pk)
            .exclude(status=SyncRun.Status.SKIPPED)
            .first()
        )
        if previous and previous.status == SyncRun.Status.FAILED and previous.cursor.get("kind"):
            return {**previous.cursor, "generation": previous.generation_started_at}
        return None

    def _counts(self) -> dict:
        counts = {kind: counts.as_dict() for kind, counts in self.totals.items()}
        if self.incomplete:
            counts["incomplete"] = sorted(self.incomplete)
        return counts

    def _store(self, kind: str, rows: list[dict], seen_at) -> None:
        if kind == "customers":
            counts = upserts.customers_upsert(portal=self.portal, rows=rows, seen_at=seen_at)
        elif kind == "contacts":
            counts = upserts.contacts_upsert(portal=self.portal, rows=rows, seen_at=seen_at)
        elif kind == "invoices":
            counts = upserts.invoices_upsert(portal=self.portal, rows=rows, seen_at=seen_at)
        else:
            counts = payment_upserts.payments_upsert(portal=self.portal, rows=rows)
        self.totals[kind].add(counts)

    def _page_done(self, kind: str, next_page: int) -> None:
        run = self.run
        run.pages += 1
        run.api_calls = self.client.calls
        run.cursor = {"kind": kind, "page": next_page}
        if self.incomplete:  # a resumed run keeps marking nothing gone of these
            run.cursor["incomplete"] = sorted(self.incomplete)
        run.counts = self._counts()
        run.save(update_fields=["pages", "api_calls", "cursor", "counts"])
        sync_lock_renew(connection=self.connection, token=self.token)

    def _full(self, resume: dict | None) -> None:
        kinds = [k for k, _, _ in KINDS]
        start_at = kinds.index(resume["kind"]) if resume and resume.get("kind") in kinds else 0
        params = {
            "customers": {"includeinactive": "true"},
            "contacts": {"includeinactive": "true"},
            "invoices": {"postedonly": "true", "includelines": "true"},
            "payments": {},
        }
        seen_at = self.run.started_at
        if resume:
            self.incomplete |= set(resume.get("incomplete") or []) & set(kinds)
        for index, (kind, path, key) in enumerate(KINDS):
            if index < start_at:
                continue
            first = int(resume.get("page") or 1) if resume and index == start_at else 1
            reader = self.client.pages(path, key, params=params[kind], start_page=first)
            for page in reader:
                self._store(kind, page.rows, seen_at)
                self._page_done(kind, page.page_no + 1)
            if not reader.complete:
                self.incomplete.add(kind)
                logger.warning(
                    "HaloPSA sync read fewer rows than HaloPSA counted; nothing of this kind marked gone",
                    extra={"portal": self.portal.pk, "kind": kind},
                )
            if kind == "customers":
                self._store_deferred("customers", seen_at)
        self._mark_gone(self.run.generation_started_at)
        self._store_deferred("contacts", seen_at)  # after: a user can take over a contact now gone

    def _store_deferred(self, kind: str, seen_at) -> None:
        """Rows their page could not store as HaloPSA has them, because another synced row held their
        email or name, stored once more at the end of the pass, together: by then that row may have moved
        (a swap or cycle across pages, which ``upserts`` writes whole) or be gone (a re-created user).

        Counted once: a user skipped in its page and stored now is no longer counted as skipped (one still
        refused is skipped again); a client was stored in its page, with its id added, and counted there.
        """
        totals = self.totals[kind]
        deferred, totals.deferred = totals.deferred, []
        if not deferred:
            return
        rows = list({row.get("id"): row for row in deferred}.values())  # a row read twice, once
        if kind == "customers":
            upserts.customers_upsert(portal=self.portal, rows=rows, seen_at=seen_at)
            return
        totals.skipped -= len(deferred)
        self._store(kind, rows, seen_at)
        totals.deferred = []  # still refused: they wait for the next run

    def _reread_held(self) -> None:
        """Invoices whose amounts a page could not settle (a write-back HaloPSA recorded while the run read
        them, ``upserts._hold_amounts_recorded_since``) are read once more, one by one, now that the
        write-back is committed: HaloPSA's answer to a read started after it counts the payment."""
        held = sorted(self.totals["invoices"].held)
        for halo_id in held[:MAX_HELD_REREADS]:
            asked_at = timezone.now()
            try:
                row = self.client.get(f"Invoice/{halo_id}")
            except HaloAPIError as exc:  # the pages are stored: this invoice waits for the next run
                logger.warning(
                    "HaloPSA sync could not read a held invoice again",
                    extra={"portal": self.portal.pk, "invoice": halo_id, "error": exc.message},
                )
                continue
            if isinstance(row, dict):
                counts = upserts.invoices_upsert(portal=self.portal, rows=[row], seen_at=asked_at)
                self.totals["invoices"].paid_changed |= counts.paid_changed
        if held:
            logger.info(
                "HaloPSA sync read again invoices written back during the run",
                extra={"portal": self.portal.pk, "invoices": len(held)},
            )

    def _mark_gone(self, since) -> None:
        """After a complete pass: synced rows HaloPSA no longer lists are kept, marked inactive or void.

        Each kind only when its own pass was complete: a short answer for one list says nothing about
        the rows of another."""
        portal = self.portal
        if "customers" not in self.incomplete:
            Customer.objects.filter(
                portal=portal, halo_id__isnull=False, halo_seen_at__lt=since, inactive=False
            ).update(inactive=True)
        if "contacts" not in self.incomplete:
            gone = Contact.objects.filter(
                customer__portal=portal, halo_id__isnull=False, halo_seen_at__lt=since, inactive=False
            )
            self.totals["contacts"].revoked_emails |= set(gone.values_list("email", flat=True))
            gone.update(inactive=True)
        if "invoices" not in self.incomplete and (
            Invoice.objects.filter(customer__portal=portal, halo_id__isnull=False, halo_seen_at__lt=since)
            .exclude(status=Invoice.Status.VOID)
            .update(status=Invoice.Status.VOID, balance=upserts.ZERO)
        ):
            invoice_figures_changed(portal_id=portal.pk)  # an update() sends no signals

    def _incremental(self) -> None:
        since = self.connection.watermark - timedelta(seconds=settings.HALO_SYNC_OVERLAP_SECONDS)
        since_param = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        seen_at = self.run.started_at
        for kind, path in (("customers", "Client"), ("contacts", "Users")):
            key = "clients" if kind == "customers" else "users"
            params = {"includeinactive": "true", "lastupdatefromdate": since_param}
            for page in self.client.pages(path, key, params=params):
                self._store(kind, page.rows, seen_at)
                self._page_done(kind, page.page_no + 1)
            self._store_deferred(kind, seen_at)
        params = {"postedonly": "true", "includelines": "true", "order": "last_modified", "orderdesc": "true"}
        for page in self.client.pages("Invoice", "invoices", params=params):
            fresh = [r for r in page.rows if (datetime_value(r.get("last_modified")) or since) >= since]
            self._store("invoices", fresh, seen_at)
            self._page_done("invoices", page.page_no + 1)
            if len(fresh) < len(page.rows):
                break  # newest first: the rest is older than the watermark
        for halo_id in sorted(self.totals["invoices"].paid_changed)[:MAX_INCREMENTAL_PAYMENT_READS]:
            for page in self.client.pages("InvoicePayment", "payments", params={"invoice_id": halo_id}):
                self._store("payments", page.rows, seen_at)
                self._page_done("payments", page.page_no + 1)
