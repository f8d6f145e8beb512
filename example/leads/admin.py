from django.contrib import admin

from .models import Lead, Survey


class SurveyInline(admin.TabularInline):
    model = Survey
    extra = 0
    raw_id_fields = ("surveyor",)


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ("customer", "postcode", "charger_model", "status", "created_at")
    list_filter = ("status",)
    list_select_related = ("customer",)
    search_fields = ("customer__username", "customer__email", "postcode", "address")
    raw_id_fields = ("customer",)
    readonly_fields = ("id", "created_at")
    inlines = [SurveyInline]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ("lead", "scheduled_for", "surveyor", "status")
    list_filter = ("status",)
    list_select_related = ("lead__customer", "surveyor")
    date_hierarchy = "scheduled_for"
    raw_id_fields = ("lead", "surveyor")
    readonly_fields = ("id",)
