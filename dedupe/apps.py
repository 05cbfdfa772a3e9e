from django.apps import AppConfig
from django.conf import settings


class DedupeConfig(AppConfig):
    name = "dedupe"
    verbose_name = "Archive and detection"

    def ready(self) -> None:
        from PIL import Image

        from . import checks  # noqa: F401 - registers the start-up and deployment checks

        # Pillow warns above this and raises at twice it; the probe turns the warning into a
        # refusal, so our limit is the one that holds in every process, workers included.
        Image.MAX_IMAGE_PIXELS = settings.DEDUPE_MAX_IMAGE_PIXELS
