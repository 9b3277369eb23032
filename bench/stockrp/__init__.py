"""The benchmark's reference relying party: a minimal Django project using stock mozilla-django-oidc
5.0.2 configured from settings (its documented set-up), plus a bare view as the floor."""
