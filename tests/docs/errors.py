import logging

from chargesol_notifications import notify
from chargesol_notifications.exceptions import NotificationError

logger = logging.getLogger(__name__)


def confirm_survey_or_log(survey):
    try:
        notify(
            survey.lead.customer,
            "sms",
            template="survey_confirmation_sms",
            context={"survey": survey},
            context_type="survey",
            context_id=survey.pk,
        )
    except NotificationError:
        # The booking stands; staff can send the confirmation by hand.
        logger.exception("Could not queue the survey confirmation for %s", survey.pk)
