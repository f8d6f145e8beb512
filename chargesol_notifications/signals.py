"""Signals sent as notifications move through their life.

Every signal is sent after the change it reports is saved, inside the transaction that
saved it; receivers that talk to the outside world should use ``transaction.on_commit``.
The exceptions are ``push_token_invalid`` and ``reply_received``, sent once that
transaction has committed.
"""

from django.dispatch import Signal

#: A notification was committed and handed to the tasks framework.
#: ``sender`` is Notification; ``notifications`` is the list (one for notify()).
notification_queued = Signal()

#: The gateway accepted a notification. ``sender`` is the backend class;
#: ``notification``, ``receipt`` and ``message`` (the OutgoingMessage) come along.
notification_sent = Signal()

#: A notification ended ``failed``. ``sender`` is the backend class (or Notification
#: when a webhook reported the failure); ``notification``, ``receipt`` and ``error``.
notification_failed = Signal()

#: The push gateway says a device token will never work again (the app was uninstalled,
#: the token expired or belongs to another project): the project should stop returning
#: it from PUSH_TOKEN_RESOLVER. ``sender`` is the backend class; ``token``, the
#: ``notification`` it was refused for, and ``error_code`` (the gateway's, e.g. FCM's
#: ``UNREGISTERED``). Sent after the delivery's transaction commits, once per token and
#: notification; receivers' exceptions are logged, not raised. See docs/push.rst.
push_token_invalid = Signal()

#: A DeliveryReceipt row was written. ``sender`` is DeliveryReceipt;
#: ``notification`` and ``receipt``.
receipt_recorded = Signal()

#: The call-status webhook changed a CallLog (outcome, duration, or a note on why the
#: call failed). ``sender`` is
#: CallLog; ``call_log`` and ``call_status`` (Twilio's CallStatus) come along.
call_status_recorded = Signal()

#: A customer's message (an SMS or WhatsApp reply) was stored. ``sender`` is
#: InboundMessage; ``inbound_message``, ``notification`` (the one it answers, or None) and
#: ``user`` (who wrote, or None) come along. Sent once per message, after the transaction
#: that stored it commits (a retried delivery of the same message sends nothing);
#: receivers' exceptions are logged, not raised. See docs/replies.rst.
reply_received = Signal()
