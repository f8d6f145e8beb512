from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads and surveys"

    def ready(self) -> None:
        from chargesol_notifications.signals import reply_received

        from .replies import confirm_survey

        reply_received.connect(confirm_survey, dispatch_uid="leads.confirm_survey")
