"""The portal's WSGI application under cProfile, for ``bench/profile_gunicorn.py`` only.

Each request is profiled in the thread that serves it (cProfile sees one thread); ``GET
/__bench_profile__/reset`` clears the figures and ``GET /__bench_profile__/dump?sort=tottime``
answers with them. Never mounted by the portal itself.
"""

import cProfile
import io
import pstats
import threading
from urllib.parse import parse_qs

from portal.wsgi import application as portal

_lock = threading.Lock()
_stats: pstats.Stats | None = None


def application(environ, start_response):
    global _stats
    path = environ.get("PATH_INFO", "")
    if path.startswith("/__bench_profile__/"):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        body = b""
        with _lock:
            if path.endswith("/reset"):
                _stats = None
            elif _stats is not None and path.endswith("/packages"):
                body = _by_package(_stats).encode()
            elif _stats is not None:
                out = io.StringIO()
                _stats.stream = out
                _stats.sort_stats(query.get("sort", ["tottime"])[0]).print_stats(
                    int(query.get("top", ["60"])[0])
                )
                if "callers" in query:
                    _stats.print_callers(query["callers"][0])
                if "callees" in query:
                    _stats.print_callees(query["callees"][0])
                body = out.getvalue().encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        result = portal(environ, start_response)
        body = list(result)
        if hasattr(result, "close"):
            result.close()
    finally:
        profiler.disable()
    with _lock:
        if _stats is None:
            _stats = pstats.Stats(profiler)
        else:
            _stats.add(profiler)
    return body


def _by_package(stats: pstats.Stats) -> str:
    """Own time (tottime) summed per package: where the CPU goes, whoever calls it."""
    totals: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        if "site-packages/" in filename:
            package = filename.split("site-packages/", 1)[1]
            package = (
                "/".join(package.split("/")[:3]) if package.startswith("django/") else package.split("/")[0]
            )
        elif "/work/" in filename or filename.startswith(("portal", "sso", "accounts")):
            package = "ours:" + filename.rsplit("/", 2)[-2]
        elif filename == "~":
            package = "builtin:" + name.split(" of ")[0][:50]
        else:
            package = "stdlib:" + filename.rsplit("/", 1)[-1]
        totals[package] = totals.get(package, 0.0) + tottime
    total = sum(totals.values()) or 1.0
    lines = [
        f"{seconds * 1000:9.1f} ms {seconds / total:6.1%}  {package}"
        for package, seconds in sorted(totals.items(), key=lambda item: -item[1])[:45]
    ]
    return "\n".join(lines) + "\n"
