from chargesol_notifications import notify


def email_quote(lead):
    return notify(
        lead.customer,
        "email",
        subject="Your ChargeSol quote",
        body=(
            f"Hello {lead.customer.first_name},\n\n"
            "Your quote for a home charger is attached to your account. "
            "Reply to this email with any question.\n\nThe ChargeSol team"
        ),
        context_type="lead",
        context_id=lead.pk,
    )
