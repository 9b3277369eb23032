import re

DEFAULT_BRAND_COLOUR = "#1a56db"
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def portal(request):
    """Branding for every template: the portal's name, colour and logo.

    ``brand_colour`` goes into a ``<style>`` element, where HTML escaping does not stop CSS: only
    a plain ``#rrggbb`` is ever put there, whatever the database holds.
    """
    current = getattr(request, "portal", None)
    colour = getattr(current, "primary_colour", "") or ""
    return {
        "portal": current,
        "brand_colour": colour if _HEX_COLOUR.fullmatch(colour) else DEFAULT_BRAND_COLOUR,
    }
