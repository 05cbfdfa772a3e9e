"""Who may see what: the sources each caseworker is assigned to."""

from django.conf import settings
from django.db import models

from dedupe.models import Source


class SourceAssignment(models.Model):
    """A caseworker sees and works on the records of the sources assigned to them, no others."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="source_assignments")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "source"], name="assignment_unique")]

    def __str__(self) -> str:
        return f"{self.user} -> {self.source}"
