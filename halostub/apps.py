from django.apps import AppConfig


class HaloStubConfig(AppConfig):
    name = "halostub"
    verbose_name = "HaloPSA stand-in"
    default_auto_field = "django.db.models.BigAutoField"
