"""``python -m stripestub --port N``: serve localstripe on 127.0.0.1 only, state in memory only.

localstripe's own entry point binds every interface (``::``) and pickles its state to a fixed
``/tmp/localstripe.pickle`` shared by every process on the machine; both are wrong for a demo and
for parallel test runs, so this wrapper binds loopback and turns the disk store off. Everything
else (the API, webhook delivery with ``Stripe-Signature``, the Stripe.js stand-in at
``/js.stripe.com/v3/``) is localstripe's unchanged code.
"""

import argparse
import logging

from aiohttp import web
from localstripe import resources, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()

    # In-memory only: no shared pickle file (see the module docstring).
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None

    logger = logging.getLogger("aiohttp.access")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler())
    web.run_app(server.app, host=args.host, port=args.port, access_log=logger, print=None)


if __name__ == "__main__":
    main()
