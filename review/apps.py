from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review desk"

    def ready(self) -> None:
        from . import identity, recording, throttling

        recording.connect()
        identity.connect()
        throttling.connect()
