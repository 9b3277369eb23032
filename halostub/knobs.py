"""Fault knobs of the stand-in's API, set through ``/_control/api/knobs`` (tests and the bench).

Kept in the server process's memory (the stand-in is one process, like ``stats``):
- ``throttle``: the next ``count`` API requests answer 429 with ``Retry-After: retry_after``;
- ``fail``: the next ``count`` requests to ``path`` (optionally only for ``page_no``) answer ``status``;
- ``slow``: every API request waits ``seconds`` first.
"""

import threading
import time

_lock = threading.Lock()
_state: dict = {"throttle": None, "fail": [], "slow": 0.0}


def set_knobs(*, throttle: dict | None = None, fail: dict | None = None, slow: float | None = None) -> None:
    with _lock:
        if throttle is not None:
            _state["throttle"] = {
                "count": int(throttle.get("count", 1)),
                "retry_after": str(throttle.get("retry_after", "1")),
            }
        if fail is not None:
            _state["fail"].append(
                {
                    "path": str(fail.get("path", "")),
                    "page_no": fail.get("page_no"),
                    "count": int(fail.get("count", 1)),
                    "status": int(fail.get("status", 500)),
                }
            )
        if slow is not None:
            _state["slow"] = max(0.0, min(float(slow), 30.0))


def reset() -> None:
    with _lock:
        _state.update({"throttle": None, "fail": [], "slow": 0.0})


def fault_for(request) -> tuple[int, dict] | None:
    """The (status, headers) this request must fail with, consuming one use of the knob; or None."""
    with _lock:
        slow = _state["slow"]
    if slow:
        time.sleep(slow)
    with _lock:
        throttle = _state["throttle"]
        if throttle and throttle["count"] > 0:
            throttle["count"] -= 1
            return 429, {"Retry-After": throttle["retry_after"]}
        for rule in _state["fail"]:
            if rule["count"] <= 0 or not request.path.startswith(rule["path"]):
                continue
            if rule["page_no"] is not None and request.GET.get("page_no") != str(rule["page_no"]):
                continue
            rule["count"] -= 1
            return rule["status"], {}
    return None
