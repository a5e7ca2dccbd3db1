from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from swabline.accounts import services, twofactor
from swabline.accounts.models import ApiToken, Assignment, User


class AssignmentInline(admin.TabularInline):
    model = Assignment
    extra = 1
    autocomplete_fields = ["place"]
    fields = ["role", "scope_kind", "place", "site", "lab"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [AssignmentInline]
    list_display = ["username", "first_name", "last_name", "is_active", "is_staff"]
    actions = ["reset_two_factor"]

    @admin.action(description=gettext_lazy("Reset the second factor (lost phone)"))
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """The users enrol again at their next login; their sessions stop at once."""
        done = sum(
            twofactor.reset(user=user, by=request.user, reason="admin action")  # type: ignore[arg-type]
            for user in queryset
        )
        self.message_user(request, _("Second factor reset for %(count)d users.") % {"count": done})


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "scopes",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "scopes",
    ]
    actions = ["revoke"]

    def has_add_permission(self, request: object) -> bool:
        return False

    @admin.action(description=gettext_lazy("Revoke selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        """Through the service: audited, and dropped from this process's cache at once."""
        for token in queryset:
            services.revoke_token(token=token, by=request.user)  # type: ignore[arg-type]
