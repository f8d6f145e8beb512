from django.db import transaction

from chargesol_notifications import notify


def book_survey(lead, when, surveyor):
    with transaction.atomic():
        survey = lead.surveys.create(scheduled_for=when, surveyor=surveyor)
        notify(
            lead.customer,
            "sms",
            template="survey_confirmation_sms",
            context={"survey": survey},
            context_type="survey",
            context_id=survey.pk,
        )
    return survey
