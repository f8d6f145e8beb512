app_name = "chargesol_notifications"

urlpatterns: list = []
