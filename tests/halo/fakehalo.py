"""A HaloPSA that answers exactly what a test says (on tests.docserver), for answers the stand-in never gives.

The stand-in (``tests.standin``) is a faithful HaloPSA; these tests need a broken one: lists without their
key or count, pages that repeat, error objects with HTTP 200."""

import json
from urllib.parse import parse_qs

from halo.models import HaloConnection

JSON = {"Content-Type": "application/json"}


def answer(doc, status=200, headers=None):
    return status, {**JSON, **(headers or {})}, json.dumps(doc).encode()


def token_route(docserver):
    docserver.set_json("/auth/token", {"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})


def paged(rows, key, *, record_count="auto", drop_key=False):
    """A route paging ``rows`` like HaloPSA; ``record_count=None`` leaves the field out."""

    def route(query):
        q = parse_qs(query)
        size = int(q.get("page_size", ["1000"])[0])
        page = int(q.get("page_no", ["1"])[0])
        chunk = rows[(page - 1) * size : page * size]
        doc = {} if drop_key else {key: chunk}
        if record_count == "auto":
            doc["record_count"] = len(rows)
        elif record_count is not None:
            doc["record_count"] = record_count
        return answer(doc)

    return route


def connect(portal, docserver) -> HaloConnection:
    token_route(docserver)
    return HaloConnection.objects.create(
        portal=portal,
        api_url=docserver.url("/api"),
        auth_url=docserver.url("/auth"),
        client_id="cid",
        client_secret="csecret",
    )
