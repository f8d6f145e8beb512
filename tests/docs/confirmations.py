from chargesol_notifications import notify


def confirm_survey(survey):
    return notify(
        survey.lead.customer,
        "sms",
        template="survey_confirmation_sms",
        context={"survey": survey},
        context_type="survey",
        context_id=survey.pk,
        idempotency_key=f"survey-{survey.pk}-confirmation",
    )
