from django.conf import settings
from django.db import models


class Order(models.Model):
    STATUSES = [("new", "new"), ("paid", "paid"), ("shipped", "shipped")]

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    item = models.CharField(max_length=100)
    total = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    status = models.CharField(max_length=10, choices=STATUSES, default="new")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Order #{self.pk}: {self.item}"

    def mark_paid(self, actor=None) -> None:
        from .signals import order_paid

        self.status = "paid"
        self.save(update_fields=["status"])
        order_paid.send(sender=Order, action_object=self, actor=actor, target="checkout")
