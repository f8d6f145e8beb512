"""A custom user model with a phone number, shaped like ChargeSol's."""

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # Indexed, as the staff guide recommends: the admin's search looks users up by exact
    # phone and email.
    phone = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        indexes = [models.Index(fields=["email"], name="testapp_user_email_idx")]


class Lead(models.Model):
    """A customer enquiry that decides what templates see of it itself."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(User, on_delete=models.CASCADE, related_name="leads")
    postcode = models.CharField(max_length=10)
    internal_rating = models.IntegerField(default=0)

    def notification_context(self) -> dict:
        return {"postcode": self.postcode, "customer_first_name": self.customer.first_name}


class Survey(models.Model):
    """A home survey with the kinds of fields a template may and may not see."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        DONE = "done", "Completed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="surveys")
    surveyor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True)
    scheduled_for = models.DateTimeField()
    scheduled_day = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    notes = models.TextField(blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    confirmed = models.BooleanField(default=False)
    slots = models.JSONField(default=list, blank=True)
    duration = models.DurationField(null=True, blank=True)
    report = models.FileField(blank=True)
    access_token = models.CharField(max_length=64, blank=True)
    customer_password_hint = models.CharField(max_length=64, blank=True)
    api_key = models.CharField(max_length=64, blank=True)
