"""The one-command demo (``make run`` = ``python -m demo``): the portal beside a local HaloPSA stand-in.

It prepares both (migrations, demo data, an SSO config pointing at the stand-in, the stand-in's client
and users), starts both development servers, prints what to open, and stops both on Ctrl-C.
Development only: DEBUG on, SQLite, tasks inline, mail printed to the console.
"""
