from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        # The broker must be installed before any actor module is imported.
        from apps.core import queue  # noqa: F401
