"""The incoming message webhook: customers' SMS and WhatsApp replies, signed for real by the
stand-in (RequestValidator with the account's auth token), as Twilio sends them."""

from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ElementTree
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import checks
from django.db import connection
from django.dispatch import receiver
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from chargesol_notifications import notify
from chargesol_notifications.models import InboundMessage, Notification, OptOut
from chargesol_notifications.recipients import written_forms
from chargesol_notifications.signals import reply_received
from tests.testapp.models import Lead, Survey

from ..factories import NotificationFactory, UserFactory
from ..twilio_setup import SMS_FROM, WEBHOOK_BASE_URL, WHATSAPP_FROM, use_twilio

pytestmark = pytest.mark.django_db

INBOUND = "/notifications/twilio/inbound-message/"
URL = f"{WEBHOOK_BASE_URL}{INBOUND}"
CUSTOMER = "+447700900102"
FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def database_state():
    """Everything the webhook could write, to compare before and after a request."""
    return (
        sorted(InboundMessage.objects.values_list("gateway_message_id", "body", "user_id")),
        sorted(OptOut.objects.values_list("channel", "address", "reason", "lifted_at")),
    )


@pytest.fixture
def replies():
    """Every ``reply_received`` sent, as (inbound_message, notification, user)."""
    sent = []

    def record(sender, inbound_message, notification, user, **kwargs):
        assert sender is InboundMessage
        sent.append((inbound_message, notification, user))

    reply_received.connect(record)
    yield sent
    reply_received.disconnect(record)


@pytest.fixture
def deliver(client, standin, django_capture_on_commit_callbacks):
    """Deliver a customer's message as Twilio would; on-commit callbacks run."""

    def deliver(body: str = "", *, from_: str = CUSTOMER, to: str = SMS_FROM, **options):
        request = options.pop("request", None) or standin.inbound_message(
            URL, from_=from_, to=to, body=body, **options
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = request.deliver(client)
        response.twilio_request = request
        return response

    return deliver


@pytest.fixture
def customer():
    # Written the way people type it: national format, with a space.
    return UserFactory(username="amelia", first_name="Amelia", phone="07700 900102")


@pytest.fixture
def survey(customer):
    lead = Lead.objects.create(customer=customer, postcode="BS1 4DJ")
    return Survey.objects.create(lead=lead, scheduled_for=timezone.now() + timedelta(days=2))


@pytest.fixture
def confirmation(standin, customer, survey, django_capture_on_commit_callbacks):
    """The survey confirmation SMS Twilio accepted for the customer."""
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(
            customer,
            "sms",
            body="Your survey is booked for Tuesday 10am. Reply YES to confirm.",
            context_type="survey",
            context_id=survey.pk,
        )
    n.refresh_from_db()
    assert (n.status, n.address) == ("sent", CUSTOMER)
    return n


# The receiver that docs/replies.rst shows.
def confirm_survey_slot(sender, inbound_message, notification, user, **kwargs):
    """A "YES" to a survey confirmation confirms the slot."""
    if notification is None or notification.context_type != "survey":
        return
    if inbound_message.body.strip().upper() == "YES":
        Survey.objects.filter(pk=notification.context_id).update(confirmed=True)


@pytest.fixture
def survey_receiver():
    reply_received.connect(confirm_survey_slot)
    yield
    reply_received.disconnect(confirm_survey_slot)


def test_url_name():
    assert reverse("chargesol_notifications:twilio-inbound-message") == INBOUND


# -- (1) a YES to a survey confirmation ---------------------------------------------------------


def test_yes_is_stored_once_linked_and_announced_once(
    deliver, customer, confirmation, survey, replies, survey_receiver
):
    response = deliver("Yes ")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content.decode() == EMPTY_TWIML

    message = InboundMessage.objects.get()
    assert (message.channel, message.from_address, message.to_address) == (
        "sms",
        CUSTOMER,
        SMS_FROM,
    )
    assert (message.body, message.media_count, message.opt_out_type) == ("Yes ", 0, "")
    assert message.gateway_message_id == response.twilio_request.params["MessageSid"]
    assert (message.user, message.in_reply_to) == (customer, confirmation)
    assert replies == [(message, confirmation, customer)]
    survey.refresh_from_db()
    assert survey.confirmed
    assert not OptOut.objects.exists()  # YES is not an opt-in word here

    # Twilio delivers the same message again: nothing is written, nothing announced.
    before = database_state()
    again = deliver(request=response.twilio_request)
    assert (again.status_code, again.content.decode()) == (200, EMPTY_TWIML)
    assert database_state() == before
    assert len(replies) == 1


def test_the_latest_notification_within_the_window_is_the_one_answered(deliver, customer):
    now = timezone.now()

    def sent(hours_ago: float, **fields) -> Notification:
        defaults = {"recipient": customer, "address": CUSTOMER, "status": "delivered"}
        return NotificationFactory(**(defaults | fields), sent_at=now - timedelta(hours=hours_ago))

    sent(30)
    latest = sent(2)
    sent(1, channel="whatsapp", address=f"whatsapp:{CUSTOMER}")  # another channel
    sent(0.5, address="+447700900999")  # another number
    NotificationFactory(recipient=customer, address=CUSTOMER, status="queued")  # not sent yet
    deliver("Which day was it?")
    assert InboundMessage.objects.get().in_reply_to == latest


@pytest.mark.parametrize(
    ("setting", "minutes_inside"),
    [
        (None, 1),
        (None, -1),
        (3600, 1),
        (3600, -1),
        (timedelta(hours=1), 1),
        (timedelta(hours=1), -1),
    ],
)
def test_window_boundaries(deliver, customer, settings, setting, minutes_inside):
    """A notification sent just inside the window is answered; just outside, none is."""
    if setting is not None:
        settings.CHARGESOL_NOTIFICATIONS = {
            **settings.CHARGESOL_NOTIFICATIONS,
            "REPLY_WINDOW": setting,
        }
    window = timedelta(days=7) if setting is None else timedelta(seconds=3600)
    sent_at = timezone.now() - window + timedelta(minutes=minutes_inside)
    n = NotificationFactory(recipient=customer, address=CUSTOMER, status="sent", sent_at=sent_at)
    deliver("OK")
    expected = n if minutes_inside > 0 else None
    assert InboundMessage.objects.get().in_reply_to == expected


@pytest.mark.parametrize("status", ["sent", "delivered", "failed"])
def test_sent_delivered_and_failed_notifications_can_be_answered(deliver, customer, status):
    n = NotificationFactory(
        recipient=customer, address=CUSTOMER, status=status, sent_at=timezone.now()
    )
    deliver("Hello")
    assert InboundMessage.objects.get().in_reply_to == n


# -- who wrote ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written", ["+447700900102", "07700 900102", "07700900102", "+44 7700 900102", "447700900102"]
)
def test_the_sender_is_found_in_any_common_written_form(deliver, written):
    user = UserFactory(phone=written)
    deliver("Hi")
    assert InboundMessage.objects.get().user == user


def test_unknown_sender_is_stored_without_a_user(deliver, replies):
    UserFactory(phone="+447700900555")
    deliver("Who is this?", from_="+447700900777")
    message = InboundMessage.objects.get()
    assert (message.user, message.in_reply_to, message.from_address) == (
        None,
        None,
        "+447700900777",
    )
    assert replies == [(message, None, None)]


def test_two_users_with_the_number_are_not_guessed_between(deliver):
    UserFactory(phone="07700 900102")
    UserFactory(phone="+447700900102")
    deliver("Hi")
    assert InboundMessage.objects.get().user is None


def test_a_custom_sender_resolver(deliver, settings):
    someone = UserFactory()
    asked = []

    def resolver(address, channel):
        asked.append((address, channel))
        return someone

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "SENDER_RESOLVER": resolver,
    }
    deliver("Hi", from_=f"whatsapp:{CUSTOMER}", to=WHATSAPP_FROM)
    assert asked == [(f"whatsapp:{CUSTOMER}", "whatsapp")]
    assert InboundMessage.objects.get().user == someone


@pytest.mark.parametrize("answer", ["not a user", RuntimeError("resolver bug")])
def test_a_failing_resolver_still_stores_the_message(deliver, settings, caplog, answer):
    def resolver(address, channel):
        if isinstance(answer, Exception):
            raise answer
        return answer

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "SENDER_RESOLVER": resolver,
    }
    assert deliver("STOP").status_code == 200
    assert InboundMessage.objects.get().user is None
    assert OptOut.objects.get().address == CUSTOMER
    assert any("SENDER_RESOLVER" in r.getMessage() for r in caplog.records)


def test_written_forms_stay_importable_from_the_admin_search():
    from chargesol_notifications.admin.notification_search import written_forms as admin_forms

    assert admin_forms is written_forms
    assert written_forms([CUSTOMER]) == [
        "+44 7700 900102",
        "+447700900102",
        "07700 900102",
        "07700900102",
        "447700900102",
    ]


# -- WhatsApp ----------------------------------------------------------------------------------


def test_whatsapp_reply_is_linked_to_the_whatsapp_notification(
    deliver, standin, customer, django_capture_on_commit_callbacks, replies
):
    with django_capture_on_commit_callbacks(execute=True):
        sms = notify(customer, "sms", body="Your survey is on Tuesday")
        whatsapp = notify(customer, "whatsapp", body="Reminder: your survey is tomorrow")
    whatsapp.refresh_from_db()
    assert whatsapp.address == f"whatsapp:{CUSTOMER}"
    response = deliver(
        "Thanks!", from_=f"whatsapp:{CUSTOMER}", to=WHATSAPP_FROM, profile_name="Amelia"
    )
    assert response.status_code == 200
    assert response.twilio_request.params["WaId"] == CUSTOMER.lstrip("+")
    message = InboundMessage.objects.get()
    assert (message.channel, message.from_address, message.to_address) == (
        "whatsapp",
        f"whatsapp:{CUSTOMER}",
        WHATSAPP_FROM,
    )
    assert (message.user, message.in_reply_to) == (customer, whatsapp)
    assert message.in_reply_to != sms
    assert replies == [(message, whatsapp, customer)]


def test_whatsapp_stop_opts_out_of_whatsapp_only(deliver):
    deliver("stop", from_=f"whatsapp:{CUSTOMER}", to=WHATSAPP_FROM)
    opt_out = OptOut.objects.get()
    assert (opt_out.channel, opt_out.address) == ("whatsapp", f"whatsapp:{CUSTOMER}")


def test_media_is_counted(deliver):
    response = deliver("", media_urls=("https://example.com/a.jpg", "https://example.com/b.jpg"))
    message = InboundMessage.objects.get()
    assert message.gateway_message_id.startswith("MM")
    assert (message.body, message.media_count) == ("", 2)
    assert response.twilio_request.params["NumMedia"] == "2"


# -- opt-out keywords --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["STOP", "stop", " Stop\n", "STOPALL", "UNSUBSCRIBE", "cancel", "END", "quit"]
)
def test_stop_words_opt_the_address_out(deliver, word):
    deliver(word)
    message = InboundMessage.objects.get()
    opt_out = OptOut.objects.get()
    assert (opt_out.channel, opt_out.address, opt_out.reason) == ("sms", CUSTOMER, "stop_keyword")
    assert opt_out.inbound_message == message
    assert opt_out.is_active


@pytest.mark.parametrize("body", ["Stop please", "STOP.", "don't stop", "YES", "HELP", "No"])
def test_other_messages_touch_no_opt_out(deliver, body):
    deliver(body)
    assert not OptOut.objects.exists()


@pytest.mark.parametrize("word", ["START", "unstop", " Start "])
def test_start_lifts_the_opt_out(deliver, word):
    deliver("STOP")
    deliver(word)
    opt_out = OptOut.objects.get()
    assert opt_out.lifted_at is not None
    assert InboundMessage.objects.count() == 2


def test_yes_does_not_lift_an_opt_out(deliver):
    deliver("STOP")
    deliver("YES")
    assert OptOut.objects.get().is_active


def test_stop_after_start_opts_out_again(deliver):
    deliver("STOP")
    deliver("START")
    deliver("QUIT")
    opt_out = OptOut.objects.get()
    assert opt_out.is_active
    assert opt_out.inbound_message.body == "QUIT"


def test_opt_out_type_stop_is_obeyed_whatever_the_body(deliver):
    # A keyword the operator added in Advanced Opt-Out, in another language.
    deliver("Arrête", OptOutType="STOP")
    message = InboundMessage.objects.get()
    assert message.opt_out_type == "STOP"
    assert OptOut.objects.get().inbound_message == message


def test_opt_out_type_start_lifts_even_on_yes(deliver):
    """With Advanced Opt-Out, Twilio's default opt-in words include YES: Twilio has then
    lifted its own block, and the operator's word list is obeyed."""
    deliver("STOP", advanced_opt_out=True)
    response = deliver("YES", advanced_opt_out=True)
    assert response.twilio_request.params["OptOutType"] == "START"
    assert OptOut.objects.get().lifted_at is not None


def test_help_does_nothing(deliver):
    deliver("HELP", advanced_opt_out=True)
    assert InboundMessage.objects.get().opt_out_type == "HELP"
    assert not OptOut.objects.exists()


def test_a_retried_stop_after_start_does_not_opt_out_again(deliver):
    stop = deliver("STOP")
    deliver("START")
    deliver(request=stop.twilio_request)  # Twilio retries the old STOP
    assert OptOut.objects.get().lifted_at is not None


# -- the reply hook ----------------------------------------------------------------------------


def test_the_hook_answers_with_escaped_twiml(deliver, settings, customer, confirmation):
    seen = []

    def hook(message):
        seen.append(message)
        return f'Thanks {message.user.first_name} & see you <Tuesday> "10am" ]]>\x07'

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "INBOUND_REPLY_HOOK": hook,
    }
    response = deliver("YES")
    assert response["Content-Type"] == "text/xml"
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    (message_element,) = root
    assert message_element.tag == "Message"
    assert message_element.text == 'Thanks Amelia & see you <Tuesday> "10am" ]]>'
    assert b"&lt;Tuesday&gt;" in response.content
    assert seen == [InboundMessage.objects.get()]
    assert seen[0].in_reply_to == confirmation

    # A retried delivery gets the same answer (the hook computes text; the work is done
    # once, by reply_received receivers).
    again = deliver(request=response.twilio_request)
    assert again.content == response.content
    assert len(seen) == 2


def test_hook_by_dotted_path_and_none_answers_nothing(deliver, settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "INBOUND_REPLY_HOOK": "tests.webhooks.test_inbound.no_answer",
    }
    assert deliver("Hello").content.decode() == EMPTY_TWIML


def no_answer(message):
    return None


def test_a_failing_hook_answers_nothing_and_keeps_the_message(client, deliver, settings, caplog):
    client.raise_request_exception = False  # got_request_exception is sent, as for a 500

    def hook(message):
        raise RuntimeError("hook bug")

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "INBOUND_REPLY_HOOK": hook,
    }
    response = deliver("STOP")
    assert (response.status_code, response.content.decode()) == (200, EMPTY_TWIML)
    assert InboundMessage.objects.exists()
    assert OptOut.objects.exists()
    assert any("INBOUND_REPLY_HOOK" in r.getMessage() for r in caplog.records)


def test_a_failing_receiver_is_logged_and_the_message_kept(deliver, caplog):
    @receiver(reply_received)
    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    try:
        response = deliver("Hello")
    finally:
        reply_received.disconnect(broken)
    assert response.status_code == 200
    assert InboundMessage.objects.exists()
    assert any("reply_received receiver" in r.getMessage() for r in caplog.records)


# -- (4) forged, unsigned and malformed requests -------------------------------------------------


def test_forged_unsigned_and_tampered_requests_are_refused(client, standin, customer):
    request = standin.inbound_message(URL, from_=CUSTOMER, to=SMS_FROM, body="START")
    before = database_state()
    for refused in (
        request.forged(),
        request.unsigned(),
        request.altered(Body="STOP"),
        request.altered(From="+447700900999"),
    ):
        response = refused.deliver(client)
        assert response.status_code == 403
        assert response["Content-Type"].startswith("text/plain")
        assert response.content == b"Invalid Twilio signature."
    # Signed for another URL (the status webhook's).
    other = standin.inbound_message(
        f"{WEBHOOK_BASE_URL}/notifications/twilio/message-status/",
        from_=CUSTOMER,
        to=SMS_FROM,
        body="STOP",
    )
    response = client.post(
        INBOUND,
        data=other.body().decode(),
        content_type=FORM,
        secure=True,
        HTTP_X_TWILIO_SIGNATURE=other.signature,
    )
    assert response.status_code == 403
    assert database_state() == before


def test_get_is_not_allowed(client):
    assert client.get(INBOUND).status_code == 405


HEX = "0123456789abcdef" * 2
MALFORMED = [
    {"MessageSid": None},
    {"MessageSid": "SM123"},
    {"MessageSid": "CA" + HEX},  # a call's sid
    {"MessageSid": "SM" + HEX + "0"},
    {"AccountSid": None},
    {"AccountSid": "AC123"},
    {"From": None},
    {"From": "07700900102"},  # not E.164
    {"From": "+447700900102\x00"},
    {"From": "whatsapp:07700900102"},
    {"From": "messenger:1234567890"},
    {"From": "+4477009001021234567"},  # longer than E.164
    {"To": None},
    {"To": "our number"},
    {"From": f"whatsapp:{CUSTOMER}"},  # To is not a WhatsApp address
    {"To": WHATSAPP_FROM},  # From is not
    {"NumMedia": "x"},
    {"NumMedia": "-1"},
    {"NumMedia": "²"},
    {"NumMedia": "40000"},
    {"OptOutType": "MAYBE"},
    {"Body": "STOP\x00"},
]


@pytest.mark.parametrize("changes", MALFORMED, ids=[str(change) for change in MALFORMED])
def test_malformed_requests_are_answered_400_and_write_nothing(client, standin, changes):
    request = standin.inbound_message(URL, from_=CUSTOMER, to=SMS_FROM, body="STOP", **changes)
    before = database_state()
    response = request.deliver(client)
    assert response.status_code == 400, response.content
    assert response.content == b"Malformed webhook request."
    assert database_state() == before


@pytest.mark.parametrize("name", ["MessageSid", "From", "Body"])
def test_a_repeated_field_is_malformed(client, standin, name):
    params = standin.inbound_message(URL, from_=CUSTOMER, to=SMS_FROM, body="STOP").params
    pairs = [*params.items(), (name, params[name])]
    body = urlencode(pairs)
    signature = RequestValidator(standin.auth_token).compute_signature(URL, QueryDict(body))
    response = client.post(
        INBOUND, data=body, content_type=FORM, secure=True, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 400
    assert database_state() == ([], [])


def test_a_long_body_is_cut_not_refused(deliver):
    deliver("x" * 5000)
    assert len(InboundMessage.objects.get().body) == 4096


def test_emoji_and_other_scripts_are_kept(deliver):
    deliver("Oui 👍 — ευχαριστώ")
    assert InboundMessage.objects.get().body == "Oui 👍 — ευχαριστώ"


# -- cost and concurrency ----------------------------------------------------------------------


def test_one_message_costs_three_queries(
    client, standin, customer, confirmation, django_assert_max_num_queries
):
    request = standin.inbound_message(URL, from_=CUSTOMER, to=SMS_FROM, body="YES")
    # Who wrote, what it answers, the INSERT.
    with django_assert_max_num_queries(3):
        assert request.deliver(client).status_code == 200
    stop = standin.inbound_message(URL, from_=CUSTOMER, to=SMS_FROM, body="STOP")
    with django_assert_max_num_queries(6):  # and the opt-out, in a savepoint
        assert stop.deliver(client).status_code == 200
    with django_assert_max_num_queries(3):  # a retry: the same reads, an INSERT ignored
        assert request.deliver(client).status_code == 200


@pytest.mark.skipif(connection.vendor == "sqlite", reason="needs concurrent transactions")
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_message_store_it_once(live_server, settings, twilio_standin):
    barrier = threading.Barrier(2, timeout=20)

    def resolver(address, channel):
        barrier.wait()  # both requests are past their reads before either INSERTs
        return None

    use_twilio(settings, twilio_standin, SENDER_RESOLVER=resolver)
    announced = []
    reply_received.connect(lambda **kwargs: announced.append(kwargs), weak=False, dispatch_uid="t")
    try:
        sid = "SM" + uuid.uuid4().hex
        responses = []

        def send():
            responses.append(
                twilio_standin.send_inbound(
                    URL, base_url=live_server.url, from_=CUSTOMER, to=SMS_FROM, body="STOP", sid=sid
                )
            )

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        reply_received.disconnect(dispatch_uid="t")
    assert sorted(r.status for r in responses) == [200, 200]
    assert InboundMessage.objects.filter(gateway_message_id=sid).count() == 1
    assert OptOut.objects.count() == 1
    assert len(announced) == 1


@pytest.mark.django_db(transaction=True)
def test_send_inbound_posts_over_http(live_server, settings, twilio_standin):
    use_twilio(settings, twilio_standin, WEBHOOK_BASE_URL=live_server.url)
    response = twilio_standin.send_inbound(
        f"{live_server.url}{INBOUND}", from_=CUSTOMER, to=SMS_FROM, body="Hello"
    )
    assert (response.status, response.body.decode()) == (200, EMPTY_TWIML)
    assert InboundMessage.objects.get().body == "Hello"


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("SENDER_RESOLVER", "no.such.resolver", "E040"),
        ("SENDER_RESOLVER", "chargesol_notifications.conf.SETTING_NAME", "E040"),
        ("INBOUND_REPLY_HOOK", "no.such.hook", "E041"),
        ("REPLY_WINDOW", 0, "E042"),
        ("REPLY_WINDOW", timedelta(seconds=-1), "E042"),
        ("REPLY_WINDOW", "7 days", "E042"),
        ("REPLY_WINDOW", True, "E042"),
    ],
)
def test_checks(settings, key, value, error):
    settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS, key: value}
    ids = [message.id for message in checks.run_checks(tags=["chargesol_notifications"])]
    assert f"chargesol_notifications.{error}" in ids
    assert key in next(
        m.msg for m in checks.run_checks() if m.id == f"chargesol_notifications.{error}"
    )


def test_defaults_pass_the_checks():
    ids = [message.id for message in checks.run_checks(tags=["chargesol_notifications"])]
    assert not [i for i in ids if i.split(".")[-1] in {"E040", "E041", "E042"}]
