"""``/_control/``: seeding and request counts for tests. Mounted only with ``HALOSTUB_CONTROL=1``.

JSON in, JSON out, CSRF-exempt: it is driven by test code over loopback, never by a browser.
"""

import json

from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import services, stats


def _json_body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ValidationError("The body is not JSON.") from exc
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.")
    return data


def _str_list(value, *, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{field} must be a list of strings.")
    return value


def _bad_request(exc: ValidationError) -> JsonResponse:
    return JsonResponse({"error": "invalid_request", "messages": exc.messages}, status=400)


@require_GET
def stats_view(request):
    return JsonResponse(stats.snapshot())


@csrf_exempt
@require_POST
def stats_reset(request):
    stats.reset()
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def clients(request):
    try:
        data = _json_body(request)
        app = services.client_upsert(
            client_id=str(data.get("client_id") or ""),
            client_secret=data.get("client_secret") or None,
            redirect_uris=_str_list(data.get("redirect_uris"), field="redirect_uris"),
            post_logout_redirect_uris=_str_list(
                data.get("post_logout_redirect_uris"), field="post_logout_redirect_uris"
            ),
            name=str(data.get("name") or ""),
        )
    except ValidationError as exc:
        return _bad_request(exc)
    return JsonResponse({"client_id": app.client_id, "client_type": app.client_type})


@csrf_exempt
@require_POST
def users(request):
    try:
        data = _json_body(request)
        user = services.user_upsert(
            email=str(data.get("email") or ""),
            password=str(data.get("password") or ""),
            name=str(data.get("name") or ""),
        )
    except ValidationError as exc:
        return _bad_request(exc)
    return JsonResponse({"sub": str(user.pk), "email": user.email})


@csrf_exempt
@require_POST
def links(request):
    try:
        data = _json_body(request)
        link = services.link_upsert(label=str(data.get("label") or ""), url=str(data.get("url") or ""))
    except ValidationError as exc:
        return _bad_request(exc)
    return JsonResponse({"label": link.label, "url": link.url})
