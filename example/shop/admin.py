from django.contrib import admin

from .models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["__str__", "customer", "total", "status", "created_at"]
    list_filter = ["status"]
    actions = ["mark_paid"]

    @admin.action(description="Mark paid (sends the order_paid signal)", permissions=["change"])
    def mark_paid(self, request, queryset):
        for order in queryset:
            order.mark_paid(actor=request.user)
        self.message_user(request, f"{queryset.count()} order(s) marked paid.")
