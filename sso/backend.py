from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class PortalOIDCBackend(OIDCAuthenticationBackend):
    def __init__(self, *args, **kwargs):
        pass

    def authenticate(self, request, **kwargs):
        return None
