"""Who may add, change and delete what in the app's admin pages."""

from __future__ import annotations

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Rows written by the app and its webhooks: staff may look, not add or edit."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class NotDeletedInOwnAdminMixin:
    """Rows nobody deletes in their own admin pages, that still go with their user.

    Deleting a user in the user admin cascades to their notifications and receipts, and
    Django's confirmation page asks the admin of every model the deletion reaches for
    delete permission; refusing it outright there would make users undeletable. So the
    refusal is for requests to this admin's own views (delete view, "delete selected",
    the change page's delete link); a deletion started elsewhere gets the usual check of
    the model's delete permission. A request that does not say which view it is for is
    refused.
    """

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        match = getattr(request, "resolver_match", None)
        started_elsewhere = (
            match is not None and getattr(match.func, "model_admin", self) is not self
        )
        return started_elsewhere and super().has_delete_permission(request, obj)


class NeverDeletedAdminMixin:
    """Rows nobody deletes in the admin, and that no deletion in the admin reaches."""

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
