from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Contact", {"fields": ("phone",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Contact", {"fields": ("email", "phone")}),
    )
    list_display = ("username", "first_name", "last_name", "email", "phone", "is_staff")
    search_fields = ("username", "first_name", "last_name", "email", "phone")
