"""Run localstripe (PyPI, through ``python -m stripestub``) as a real server on loopback for tests.

``start_localstripe(tmp_path)`` starts it on a free 127.0.0.1 port and waits (bounded) until it
answers. :class:`LocalStripe` registers the webhook endpoint and does, over HTTP, exactly what
localstripe's Stripe.js stand-in does in a browser (``confirmCardSetup``, ``confirmCardPayment``'s
3-D Secure step), for tests that drive the flow without Chromium. Nothing here fakes Stripe: every
answer comes from localstripe.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.servers import free_port, start_logged, stop_process, wait_until_server_answers

REPO_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0

#: Test cards localstripe knows (see localstripe.resources.PaymentMethod).
CARD_OK = "4242424242424242"
CARD_3DS = "4000002500003155"
CARD_DECLINED_ON_CHARGE = "4000000000000341"
CARD_DECLINED_ON_SETUP = "4000000000000002"


@dataclass
class LocalStripe:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    http: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def js_url(self) -> str:
        return f"{self.base_url}/js.stripe.com/v3/"

    def register_webhook(self, url: str, secret: str, name: str = "portal") -> None:
        response = self.http.post(
            f"{self.base_url}/_config/webhooks/{name}",
            data={"url": url, "secret": secret},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()

    def confirm_card_setup(self, client_secret: str, number: str, publishable_key: str = "pk_test_x") -> dict:
        """What ``stripe.confirmCardSetup(secret, {payment_method: {card}})`` sends (3-D Secure: completed)."""
        seti = client_secret.split("_secret_")[0]
        url = f"{self.base_url}/v1/setup_intents/{seti}/confirm"
        body = {
            "key": publishable_key,
            "use_stripe_sdk": True,
            "client_secret": client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
            },
        }
        answer = self.http.post(url, json=body, timeout=HTTP_TIMEOUT)
        result = answer.json()
        if answer.ok and result.get("status") == "requires_action":
            answer = self.http.post(
                url, json={"key": publishable_key, "use_stripe_sdk": True, "client_secret": client_secret},
                timeout=HTTP_TIMEOUT,
            )  # fmt: skip
            result = answer.json()
        return result

    def authenticate(
        self, client_secret: str, success: bool = True, publishable_key: str = "pk_test_x"
    ) -> dict:
        """The 3-D Secure step of ``stripe.confirmCardPayment(secret)``: the person completes (or fails) it."""
        pi = client_secret.split("_secret_")[0]
        answer = self.http.post(
            f"{self.base_url}/v1/payment_intents/{pi}/_authenticate?success={'true' if success else 'false'}",
            json={"key": publishable_key, "client_secret": client_secret},
            timeout=HTTP_TIMEOUT,
        )
        return answer.json()

    def payment_intents(self, secret_key: str, **metadata: str) -> list[dict]:
        """Every PaymentIntent localstripe holds whose metadata has these values (``GET
        /v1/payment_intents``, paged: localstripe keeps one store for every key of the session)."""
        found, after = [], None
        for _page in range(1000):  # bounded: localstripe holds far fewer than 100 000 intents
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            answer = self.http.get(
                f"{self.base_url}/v1/payment_intents",
                params=params,
                auth=(secret_key, ""),
                timeout=HTTP_TIMEOUT,
            )
            answer.raise_for_status()
            page = answer.json()
            found += [
                intent
                for intent in page["data"]
                if all((intent.get("metadata") or {}).get(k) == v for k, v in metadata.items())
            ]
            if not page.get("has_more") or not page["data"]:
                return found
            after = page["data"][-1]["id"]
        raise AssertionError("localstripe kept answering has_more")

    def stop(self) -> None:
        self.http.close()
        stop_process(self.process)


def start_localstripe(tmp_path: Path) -> LocalStripe:
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmp_path / "localstripe.log"
    process = start_logged(
        [sys.executable, "-m", "stripestub", "--port", str(port)], log_path=log_path, cwd=REPO_DIR
    )
    server = LocalStripe(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    wait_until_server_answers(server, server.js_url, timeout=START_TIMEOUT, what="localstripe")
    return server


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    server = start_localstripe(tmp_path_factory.mktemp("localstripe"))
    yield server
    server.stop()
