"""Pay when Stripe's answer to the PaymentIntent create is lost: the person is told we are unsure
(a 502 with ``UNSURE_MESSAGE``, within the interactive budget), and pressing Pay again charges the
card at most once, settles once and lowers the invoice once.

A real loopback HTTP proxy sits between the portal (Stripe's official SDK) and localstripe, and a
second one between localstripe's webhook delivery and the portal. Stripe.js's side (Elements, the
card entry) goes to localstripe directly, as in the other pay tests. Nothing of ours is mocked.

What localstripe does NOT do: it ignores ``Idempotency-Key`` (nothing in its source reads the
header), so a create sent twice makes two intents there. Real Stripe would answer the second with
the first intent (for 24 h, given the same parameters). The portal therefore may not lean on the
key alone: after a create it heard no answer to, it looks for the intent by its metadata first
(``payments.checkout.intent_already_created``). These tests show that, and fail without it.

Stripe's SDK retries a create that got no answer (``STRIPE_MAX_NETWORK_RETRIES``, 1, after 0.5 s)
with the same ``Idempotency-Key``. Forwarded, that retry would make a second intent at localstripe
(not at Stripe), so the proxy keeps the network down for it: the retry is dropped unsent.
"""

from __future__ import annotations

import socket
import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from payments.checkout import UNSURE_MESSAGE
from payments.models import CardPayment
from portal.models import Invoice, Payment
from tests.payments.conftest import wait_for
from tests.stripestub import CARD_OK

pytestmark = pytest.mark.django_db(transaction=True)

IO_SECONDS = 10.0  # every socket read, write and connect of the proxy
HOLD_SECONDS = 20.0  # the longest a held request waits for ``release()``
MAX_HEAD = 64 * 1024
CREATE = ("POST", "/v1/payment_intents")


class Proxy:
    """A threaded loopback HTTP/1.1 proxy to ``upstream``, one request per connection.

    It forwards every request as it came (``Connection: close``, ``Host`` the upstream's), and
    relays the answer. While ``lose`` is set, each ``POST /v1/payment_intents`` is lost:

    - ``"answer"``: the first is forwarded (so the intent really is created) and the connection is
      then closed without a byte of the answer; any further one (the SDK's own network retry) is
      dropped before reaching upstream: the network stays down until ``heal()``.
    - ``"request"``: each is dropped before reaching upstream (nothing created).

    ``hold()`` makes requests wait (at most ``HOLD_SECONDS``) until ``release()``: a webhook late.
    """

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.upstream_host = parts.netloc
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.lose: str | None = None
        self.creates: list[dict] = []  # every create seen: idempotency key, forwarded, answered
        self.forwarded = 0
        self.in_flight = 0
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def heal(self) -> None:
        self.lose = None

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._stop.set()
        self._released.set()
        self._accepting.join(timeout=5)
        self.listener.close()
        for thread in list(self._threads):
            thread.join(timeout=IO_SECONDS + 1)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:  # the 0.2 s timeout, or closed
                continue
            with self._lock:
                self.in_flight += 1
            thread = threading.Thread(target=self._serve, args=(conn,), name="proxy-conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(IO_SECONDS)
                request = _read_request(conn)
                if request is None:
                    return
                method, path, headers, body = request
                if not self._released.wait(HOLD_SECONDS):
                    return  # never released: dropped
                if (method, path.split("?")[0]) == CREATE:
                    with self._lock:
                        lose = self.lose
                        first = not any(r["lost"] for r in self.creates)
                        record = {
                            "idempotency_key": headers.get("idempotency-key"),
                            "lost": lose is not None,
                            "forwarded": False,
                        }
                        self.creates.append(record)
                    if lose == "request" or (lose == "answer" and not first):
                        return  # closed unanswered, upstream never asked
                    if lose == "answer":
                        record["forwarded"] = True
                        self._forward(method, path, headers, body)
                        return  # upstream answered; the answer is lost on the way back
                    record["forwarded"] = True
                conn.sendall(self._forward(method, path, headers, body))
        except OSError:
            pass
        finally:
            with self._lock:
                self.in_flight -= 1

    def _forward(self, method: str, path: str, headers: dict, body: bytes) -> bytes:
        headers = {**headers, "host": self.upstream_host, "connection": "close"}
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        with socket.create_connection(self.upstream, timeout=IO_SECONDS) as up:
            up.sendall(head.encode("latin-1") + b"\r\n" + body)
            chunks = []
            while chunk := up.recv(65536):  # upstream closes after its answer (Connection: close)
                chunks.append(chunk)
        with self._lock:
            self.forwarded += 1
        return b"".join(chunks)


def _read_request(conn: socket.socket):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk or len(data) > MAX_HEAD:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return None  # neither the SDK nor localstripe's webhooks send chunked bodies
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return method, path, headers, body[:length]


@pytest.fixture
def lossy(shop, settings, live_server):
    """The portal's Stripe API calls through one proxy, localstripe's webhooks through another."""
    api = Proxy(shop.localstripe.base_url)
    hooks = Proxy(live_server.url)
    try:
        settings.STRIPE_API_BASE = api.url  # settings.STRIPE_JS_URL stays localstripe's own
        webhook_path = urlsplit(shop.account.webhook_url).path
        shop.localstripe.register_webhook(hooks.url + webhook_path, shop.account.webhook_secret)
        yield api, hooks
    finally:
        api.close()
        hooks.close()


def _started(shop, invoice) -> CardPayment:
    response = shop.start([invoice])
    assert response.status_code == 302, response.content[:300]
    return CardPayment.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])


def _press_pay(shop, payment):
    """What pay.js does on Pay: the setup (a fresh SetupIntent once the last one holds a card),
    Elements' confirmCardSetup (to localstripe directly), then the confirm. The setup's answer when it
    is refused."""
    base = f"/payments/{payment.public_id}"
    setup = shop.client.post(f"{base}/setup/", content_type="application/json")
    if setup.status_code != 200:
        return setup
    seti = shop.localstripe.confirm_card_setup(
        setup.json()["client_secret"], CARD_OK, shop.account.publishable_key
    )
    assert seti.get("status") == "succeeded", seti
    return shop.client.post(f"{base}/confirm/", {"setup_intent": seti["id"]}, content_type="application/json")


def _intents(shop, payment) -> list[dict]:
    return shop.localstripe.payment_intents(
        shop.account.secret_key, card_payment=str(payment.public_id), portal=str(shop.portal.pk)
    )


def _unsure_first_pay(shop, api, payment, settings):
    api.lose = api.lose or "answer"
    began = time.monotonic()
    response = _press_pay(shop, payment)
    elapsed = time.monotonic() - began
    assert response.status_code == 502, response.content[:300]  # not a 500, not "nothing charged"
    assert response.json() == {"error": UNSURE_MESSAGE}
    assert elapsed < settings.PAYMENTS_INTERACTIVE_SECONDS, elapsed
    # Stripe's SDK retried the lost create once (STRIPE_MAX_NETWORK_RETRIES), with the same key.
    assert len(api.creates) == 1 + settings.STRIPE_MAX_NETWORK_RETRIES
    assert {c["idempotency_key"] for c in api.creates} == {payment.idempotency_key}
    api.heal()
    payment.refresh_from_db()
    assert payment.status == CardPayment.Status.CREATED and payment.payment_intent_id is None
    return response


def _card_kept(payment) -> bool:
    """The card the lost create used is on the row: what makes the next Pay look before it creates."""
    payment.refresh_from_db()
    return bool(payment.payment_method_id) and payment.card_last4 == CARD_OK[-4:]


def _settled_once(shop, hooks, payment, invoice, balance_before: Decimal):
    hooks.release()
    shop.wait_settled(payment)
    wait_for(lambda: hooks.in_flight == 0, what="every held webhook delivered")
    payment.refresh_from_db()
    intents = _intents(shop, payment)
    assert [i["id"] for i in intents] == [payment.payment_intent_id]  # ONE intent at Stripe
    assert intents[0]["status"] == "succeeded"
    assert payment.status == CardPayment.Status.SUCCEEDED
    assert [p.amount for p in Payment.objects.filter(invoice=invoice)] == [payment.amount]
    invoice.refresh_from_db()
    assert invoice.balance == balance_before - payment.amount
    assert invoice.status == Invoice.Status.PAID


def test_answer_lost_after_the_intent_was_created_pay_again_at_once_charges_once(shop, lossy, settings):
    """The worst case: Stripe charged, the answer was lost, and the person presses Pay again before
    Stripe's webhook has arrived. The retry finds the intent instead of creating a second one."""
    api, hooks = lossy
    invoice = shop.invoice("120.00")
    payment = _started(shop, invoice)
    hooks.hold()  # the webhook of the lost create comes only after the retry
    _unsure_first_pay(shop, api, payment, settings)
    assert [c["forwarded"] for c in api.creates] == [True, False]
    first = _intents(shop, payment)
    assert len(first) == 1 and first[0]["status"] == "succeeded"  # charged, and we were not told
    kept = _card_kept(payment)

    again = _press_pay(shop, payment)
    assert again.status_code == 200, again.content[:300]
    assert again.json()["status"] == "processing"
    payment.refresh_from_db()
    assert [i["id"] for i in _intents(shop, payment)] == [first[0]["id"]]  # not charged twice
    assert payment.payment_intent_id == first[0]["id"]
    assert len(api.creates) == 1 + settings.STRIPE_MAX_NETWORK_RETRIES  # no create sent again
    assert kept
    _settled_once(shop, hooks, payment, invoice, Decimal("120.00"))


def test_answer_lost_pay_again_after_the_webhook_shows_it_paid(shop, lossy, settings):
    """The usual case: the webhook arrives first (about a second later) and settles the payment it
    knows by metadata; Pay again is then refused as already submitted, and nothing more is charged."""
    api, hooks = lossy
    invoice = shop.invoice("80.00")
    payment = _started(shop, invoice)
    _unsure_first_pay(shop, api, payment, settings)
    assert _card_kept(payment)
    shop.wait_settled(payment)
    again = _press_pay(shop, payment)
    assert again.status_code == 409  # the card form's setup: "This payment has already been submitted."
    result = shop.client.get(f"/payments/{payment.public_id}/result/")
    assert result.status_code == 200
    _settled_once(shop, hooks, payment, invoice, Decimal("80.00"))


def test_request_lost_before_stripe_pay_again_charges_once(shop, lossy, settings):
    """Nothing reached Stripe: the same message (we cannot tell the two apart), and Pay again
    creates the one intent."""
    api, hooks = lossy
    invoice = shop.invoice("64.10")
    payment = _started(shop, invoice)
    api.lose = "request"
    _unsure_first_pay(shop, api, payment, settings)
    assert [c["forwarded"] for c in api.creates] == [False, False]
    assert _intents(shop, payment) == []
    assert _card_kept(payment)

    again = _press_pay(shop, payment)
    assert again.status_code == 200, again.content[:300]
    assert again.json()["status"] == "processing"
    assert [c["forwarded"] for c in api.creates][-1] is True
    _settled_once(shop, hooks, payment, invoice, Decimal("64.10"))
