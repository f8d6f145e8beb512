"""What the admin's search boxes look in."""

from __future__ import annotations

from django.contrib.auth import get_user_model


def user_search_fields(prefix: str) -> tuple[str, ...]:
    """Search the user's login name and email, whatever the custom user calls them."""
    user_model = get_user_model()
    names = {user_model.USERNAME_FIELD, user_model.get_email_field_name()}
    field_names = {field.name for field in user_model._meta.get_fields()}
    return tuple(f"{prefix}__{name}" for name in sorted(names) if name in field_names)
