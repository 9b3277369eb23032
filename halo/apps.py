from django.apps import AppConfig


class HaloConfig(AppConfig):
    name = "halo"
    verbose_name = "HaloPSA API"
