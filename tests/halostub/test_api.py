"""The stand-in's HaloPSA API (``/api``): client credentials, paging, filters, PDFs, payments, faults."""

import pytest
import requests

from tests.standin import HTTP_TIMEOUT, start_standin

CLIENTS = [{"id": i, "name": f"Client {i}"} for i in range(1, 4)]
USERS = [
    {"id": 10, "name": "Alice", "emailaddress": "alice@example.com", "client_id": 1},
    {"id": 11, "name": "Bob", "emailaddress": "bob@example.com", "client_id": 2, "canaccessinvoices": False},
]
INVOICES = [
    {
        "id": 100 + i,
        "invoicenumber": f"INV-{i}",
        "client_id": 1 + i % 3,
        "invoice_date": "2026-11-01",
        "duedate": "2026-12-01",
        "total": "120.00",
        "posted": i != 4,
    }
    for i in range(1, 6)
]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = start_standin(tmp_path_factory.mktemp("halostub-api"), tenant="demo")
    server.add_api_client("svc", "svc-secret")
    server.seed_api(clients=CLIENTS, users=USERS, invoices=INVOICES)
    yield server
    server.stop()


def token(api, *, scope="all", secret="svc-secret", tenant="demo") -> requests.Response:
    return requests.post(
        f"{api.base_url}/auth/token?tenant={tenant}",
        data={
            "grant_type": "client_credentials",
            "client_id": "svc",
            "client_secret": secret,
            "scope": scope,
        },
        timeout=HTTP_TIMEOUT,
    )


def get(api, path, *, scope="all", **params):
    access = token(api, scope=scope).json()["access_token"]
    return requests.get(
        f"{api.api_url}/{path}",
        params=params,
        headers={"Authorization": f"Bearer {access}"},
        timeout=HTTP_TIMEOUT,
    )


def test_client_credentials_need_the_right_secret_and_tenant(api):
    good = token(api)
    assert good.status_code == 200 and good.json()["expires_in"] > 0
    assert token(api, secret="wrong").json()["error"] == "invalid_client"
    assert token(api, tenant="other").status_code == 400
    assert requests.get(f"{api.api_url}/Invoice", timeout=HTTP_TIMEOUT).status_code == 401


def test_auth_info_and_scopes(api):
    assert get(api, "AuthInfo").json()["tenant_id"] == "demo"
    assert get(api, "Invoice", scope="read:customers").status_code == 403
    assert get(api, "Invoice", scope="read:invoices").status_code == 200


def test_invoice_paging_and_filters(api):
    page = get(api, "Invoice", pageinate="true", page_size=2, page_no=2, postedonly="true").json()
    assert page["record_count"] == 4
    assert [row["invoicenumber"] for row in page["invoices"]] == ["INV-3", "INV-5"]
    row = get(api, "Invoice/101").json()
    assert row["amountdue"] == 120.0 and row["client_name"] == "Client 2" and "lines" in row
    assert get(api, "Invoice/999").status_code == 404


def test_users_carry_canaccessinvoices(api):
    users = get(api, "Users", client_id=2).json()["users"]
    assert [(u["emailaddress"], u["canaccessinvoices"]) for u in users] == [("bob@example.com", False)]


def test_pdf_is_a_pdf(api):
    access = token(api).json()["access_token"]
    response = requests.post(
        f"{api.api_url}/Invoice/PDF/101", headers={"Authorization": f"Bearer {access}"}, timeout=HTTP_TIMEOUT
    )
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-1.4") and response.content.rstrip().endswith(b"%%EOF")


def test_payments_post_an_array_and_are_recorded(api):
    access = token(api).json()["access_token"]
    response = requests.post(
        f"{api.api_url}/InvoicePayment",
        json=[{"invoice_id": 102, "amount": 20.5, "method": "card", "thirdpartyid": "pi_1"}],
        headers={"Authorization": f"Bearer {access}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 201
    assert api.posted_payments()[-1]["thirdpartyid"] == "pi_1"
    assert get(api, "Invoice/102").json()["amountpaid"] == 20.5
    assert get(api, "InvoicePayment", invoice_id=102).json()["payments"][0]["amount"] == 20.5


def test_recording_a_payment_needs_the_edit_invoices_scope(api):
    for scope, status in (("read:invoices", 403), ("read:invoices edit:invoices", 201)):
        access = token(api, scope=scope).json()["access_token"]
        response = requests.post(
            f"{api.api_url}/InvoicePayment",
            json=[{"invoice_id": 102, "amount": 1, "thirdpartyid": f"pi_{status}"}],
            headers={"Authorization": f"Bearer {access}"},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == status


def test_knobs_throttle_and_fail(api):
    api.knobs(throttle={"count": 1, "retry_after": "2"})
    throttled = get(api, "Client")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    api.knobs(fail={"path": "/api/Invoice", "page_no": 3, "count": 1})
    assert get(api, "Invoice", pageinate="true", page_size=1, page_no=3).status_code == 500
    assert get(api, "Invoice", pageinate="true", page_size=1, page_no=3).status_code == 200


def test_change_updates_last_modified(api):
    before = get(api, "Invoice/103").json()["last_modified"]
    api.change("invoice", 103, invoicenumber="INV-3b")
    after = get(api, "Invoice/103").json()
    assert after["invoicenumber"] == "INV-3b" and after["last_modified"] > before
