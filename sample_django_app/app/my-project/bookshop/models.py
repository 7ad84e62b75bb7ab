from django.db import models


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    year = models.SmallIntegerField(help_text="Year of first publication")

    class Meta:
        ordering = ("title", "id")

    def __str__(self) -> str:
        return f"{self.title} ({self.author})"
