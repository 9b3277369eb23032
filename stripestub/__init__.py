"""The local Stripe stand-in: PyPI ``localstripe`` served on loopback (development and tests only)."""
