def portal(request):
    """Branding for every template: the portal's name, colour and logo."""
    return {"portal": getattr(request, "portal", None)}
