from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "review"
    verbose_name = "Review desk"

    def ready(self) -> None:
        from . import recording, throttling

        recording.connect()
        throttling.connect()
