"""In a real browser: HaloPSA SSO sign-in, invoices that came from HaloPSA's API on the dashboard, PDF download."""

import re

import pytest
from playwright.sync_api import expect

from halo.models import HaloConnection
from halo.sync import halo_sync_run
from portal.models import Portal
from tests.browser.conftest import returning_person, shot, sign_in_at_standin
from tests.halo.conftest import invoices

pytestmark = pytest.mark.browser


def test_sso_sign_in_shows_halopsa_invoices_and_downloads_the_pdf(browser, world, settings):
    standin = world.standin
    standin.add_api_client("portal-sync-browser", "browser-secret")
    standin.seed_api(
        reset=True,
        clients=[{"id": 1, "name": "Acme Ltd"}, {"id": 2, "name": "Globex Corp"}],
        users=[{"id": 11, "name": "Alice Anderson", "emailaddress": "alice@example.com", "client_id": 1}],
        invoices=[
            {**invoices(1)[0], "id": 7001, "invoicenumber": "HALO-7001", "client_id": 1},
            {**invoices(1)[0], "id": 7002, "invoicenumber": "HALO-7002", "client_id": 2},
        ],
    )
    world.portal.invoice_access = Portal.InvoiceAccess.HALO
    world.portal.save(update_fields=["invoice_access"])
    connection = HaloConnection.objects.create(
        portal=world.portal, api_url=standin.api_url, auth_url=standin.issuer, client_id="portal-sync-browser",
        client_secret="browser-secret", tenant=standin.tenant,
    )  # fmt: skip
    assert halo_sync_run(connection=connection).status == "ok"

    returning_person(world, world.alice)
    page = browser.new_page()
    page.goto(world.at("/login/"))
    page.get_by_role("link", name=re.compile("HaloPSA")).click()
    sign_in_at_standin(page, world, world.alice)
    expect(page).to_have_url(world.at("/"))
    expect(page.get_by_text("HALO-7001")).to_be_visible()
    assert "HALO-7002" not in page.content()  # Globex's, even though it came through the same sync
    page.get_by_role("link", name="HALO-7001").first.click()
    shot(page, "halo-invoice")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == "HALO-7001.pdf"
    with open(download.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"
