"""A local stand-in for HaloPSA's authorisation server, for development and tests only.

A separate small Django project (settings ``halostub.settings``, its own SQLite file) built on
django-oauth-toolkit with OpenID Connect: RS256 ID tokens, PKCE (S256 only), HaloPSA's URL shape
(issuer ``http://<host>/auth``) and its ``tenant`` parameter. It is never mounted in the portal.
Run it with ``python -m halostub <manage command>``.
"""
