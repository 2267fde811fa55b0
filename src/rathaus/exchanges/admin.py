"""Django admin for operators (superusers); municipality staff use the staff pages of the portal."""

from django.contrib import admin

from . import models


class TenantAdmin(admin.ModelAdmin):
    """Operators look at many municipalities; filtering by one is the first thing they need."""

    def get_list_filter(self, request):
        filters = tuple(super().get_list_filter(request))
        return filters if "municipality" in filters else ("municipality", *filters)


@admin.register(models.Provider)
class ProviderAdmin(TenantAdmin):
    list_display = ("name", "municipality", "status", "email", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "email")


@admin.register(models.ProviderMember)
class ProviderMemberAdmin(TenantAdmin):
    list_display = ("provider", "user", "created_at")
    raw_id_fields = ("user", "provider")


@admin.register(models.Category)
class CategoryAdmin(TenantAdmin):
    list_display = ("name", "directory", "slug", "municipality", "position")


class OfferSlotInline(admin.TabularInline):
    model = models.OfferSlot
    extra = 0


class OfferDateInline(admin.TabularInline):
    model = models.OfferDate
    extra = 0


@admin.register(models.Offer)
class OfferAdmin(TenantAdmin):
    list_display = ("title", "directory", "provider", "status", "municipality", "updated_at")
    list_filter = ("directory", "status")
    search_fields = ("title", "description")
    inlines = [OfferSlotInline, OfferDateInline]


@admin.register(models.ExchangeSettings)
class ExchangeSettingsAdmin(TenantAdmin):
    list_display = ("municipality", "daycare_max_wishes", "offer_response_days")


@admin.register(models.District)
class DistrictAdmin(TenantAdmin):
    list_display = ("name", "municipality", "latitude", "longitude")


class FacilityGroupInline(admin.TabularInline):
    model = models.FacilityGroup
    extra = 0


@admin.register(models.Facility)
class FacilityAdmin(TenantAdmin):
    list_display = ("name", "code", "municipality", "is_active")
    inlines = [FacilityGroupInline]


@admin.register(models.GroupCapacity)
class GroupCapacityAdmin(TenantAdmin):
    list_display = ("group", "start_month", "places")


@admin.register(models.PriorityRule)
class PriorityRuleAdmin(TenantAdmin):
    list_display = ("criterion", "points", "position", "max_km", "is_active", "municipality")


class DaycareWishInline(admin.TabularInline):
    model = models.DaycareWish
    extra = 0


@admin.register(models.ChildRegistration)
class ChildRegistrationAdmin(TenantAdmin):
    list_display = ("reference", "child_first_name", "child_last_name", "group_kind", "desired_start", "status")
    list_filter = ("status", "group_kind")
    raw_id_fields = ("parent",)
    inlines = [DaycareWishInline]


@admin.register(models.AllocationRound)
class AllocationRoundAdmin(TenantAdmin):
    list_display = ("number", "municipality", "status", "seed", "run_at")
    readonly_fields = ("snapshot", "result", "stats")


@admin.register(models.PlaceOffer)
class PlaceOfferAdmin(TenantAdmin):
    list_display = ("registration", "facility", "round", "status", "deadline")
    list_filter = ("status",)


@admin.register(models.HolidayProgramme)
class HolidayProgrammeAdmin(TenantAdmin):
    list_display = ("name", "municipality", "starts_on", "status", "allocated_at")
    # The seed is recorded by `holiday_draw_prepare` and stays hidden until the draw; only the
    # services change it and the status, so the admin neither shows nor edits them.
    exclude = ("seed", "seed_nonce")
    readonly_fields = ("status", "seed_commitment", "seed_recorded_at", "allocated_at", "snapshot", "result")


@admin.register(models.HolidayActivity)
class HolidayActivityAdmin(TenantAdmin):
    list_display = ("title", "programme", "provider", "start_date", "capacity", "status")
    list_filter = ("status",)


@admin.register(models.HolidayRegistration)
class HolidayRegistrationAdmin(TenantAdmin):
    list_display = ("child_first_name", "child_last_name", "programme", "status")
    raw_id_fields = ("parent",)


@admin.register(models.HolidayPlacement)
class HolidayPlacementAdmin(TenantAdmin):
    list_display = ("registration", "activity", "status", "via_move_up", "created_at")
    list_filter = ("status",)
