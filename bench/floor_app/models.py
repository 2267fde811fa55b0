from django.db import models


class FloorRow(models.Model):
    """One submitted body, stored as it came: what any Django intake must at least do."""

    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.pk)
