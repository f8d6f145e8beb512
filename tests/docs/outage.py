from django.contrib.auth import get_user_model

from chargesol_notifications import notify_many


def warn_about_outage(postcode_prefix, area, until):
    User = get_user_model()
    customers = User.objects.filter(leads__postcode__startswith=postcode_prefix).distinct()
    return notify_many(
        customers,
        "sms",
        template="emergency_outage_sms",
        context={"area": area, "until": until},
        context_type="emergency",
        idempotency_key=f"outage-{postcode_prefix}-{until:%Y%m%d%H%M}",
    )
