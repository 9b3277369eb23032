"""Display formats (``FORMAT_MODULE_PATH``): the admin shows every date one way, ISO-like and 24-hour.

Customer pages choose their own friendlier formats in their templates; these defaults are what the
admin's lists, read-only fields and our own admin tables render.
"""
