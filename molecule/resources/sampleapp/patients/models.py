from django.db import models


class Patient(models.Model):
    external_id = models.CharField(max_length=32, unique=True)
    visits = models.PositiveIntegerField(default=0)
