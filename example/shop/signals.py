from django.dispatch import Signal

#: Sent by Order.mark_paid(): sender=Order, action_object=order, actor=user, target="checkout".
order_paid = Signal()
