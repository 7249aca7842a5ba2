from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsn_core.verbs import register_signal

        from .signals import order_paid

        register_signal("order_paid", order_paid, description="an order was paid (shop.signals.order_paid)")
