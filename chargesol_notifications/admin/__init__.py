"""Admin registrations: staff browse messages, calls and receipts.

One module per model's admin; what they share (who may delete what, search) beside them.
Users are picked with ``raw_id_fields`` (never a ``<select>`` of every user) and every
changelist joins what its columns show, so a page costs a fixed number of queries.

Notifications, receipts and call logs are the audit trail of what was said to customers:
nobody deletes them in the admin, superusers included. Rows leave those tables only
through the retention command or with their user (notifications and their receipts
cascade; a user who made calls is protected by their call logs).

Customers' replies are read-only too; the opt-out list takes additions by hand and lifts
(its rows stay as the record of both).
"""

from . import calls, inbound, notification_templates, notifications, opt_outs, receipts

__all__ = ["calls", "inbound", "notification_templates", "notifications", "opt_outs", "receipts"]
