"""Benchmark: what a hostile provider costs the portal, through portal.outbound.

Figures for issue 8 item 2, with the production defaults (512 KB cap, 10 s deadline):
bytes read of a 60 MB answer, and the time to refuse a provider that drips one byte every
0.5 s (headers or body) or never answers. Run: ``make bench``. Machine-dependent; not a test.
"""

import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
os.environ.setdefault("LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", message="No directory at")

import django  # noqa: E402

django.setup()

from portal import outbound  # noqa: E402
from tests.badprovider import BadProvider  # noqa: E402


def main() -> None:
    provider = BadProvider(interval=0.5, max_seconds=30)
    try:
        log = outbound.start_call_log()
        started = time.monotonic()
        try:
            outbound.get_json(provider.url("/huge/doc"))
        except outbound.OutboundError as exc:
            reason = exc.reason
        elapsed = time.monotonic() - started
        time.sleep(0.3)
        print(
            f"60 MB answer: {reason} after {elapsed * 1000:.0f} ms; bytes read {log.calls[-1].bytes_read:,} "
            f"(cap {outbound.settings.OUTBOUND_MAX_BYTES:,}); bytes the server got out before the "
            f"socket closed {provider.bytes_sent['huge']:,}"
        )
        for path in ("/drip-headers/doc", "/drip-body/doc", "/hang/doc"):
            started = time.monotonic()
            try:
                outbound.get_json(provider.url(path))
            except outbound.OutboundError as exc:
                reason = exc.reason
            print(f"{path.split('/')[1]}: refused ({reason}) after {time.monotonic() - started:.2f} s")
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
