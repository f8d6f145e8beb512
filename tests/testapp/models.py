"""A custom user model with a phone number, shaped like ChargeSol's."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    phone = models.CharField(max_length=32, blank=True)
