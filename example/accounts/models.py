"""ChargeSol's user: staff and customers alike, with the phone number SMS and calls use."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # The notifications app's default resolver reads ``user.phone`` for sms, whatsapp and call.
    phone = models.CharField(
        "phone",
        max_length=16,
        blank=True,
        help_text="Mobile number in E.164 form, e.g. +447700900123.",
    )

    def __str__(self) -> str:
        return self.get_full_name() or self.username
