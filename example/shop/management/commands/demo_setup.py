"""Create the demo's admin user and sample DSN configuration (idempotent)."""

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand

from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger
from dsn_core.plugins import get_messenger_class
from shop.models import Order

#: The "New order" message: the unsubscribe link, and beside it the person's preferences page.
NEW_ORDER_TEXT = (
    "Hello {{ recipient }}, {{ instance.customer|default:'someone' }} ordered {{ instance.item }} for "
    "{{ instance.total }}.\n\n"
    "{% if unsubscribe_url %}Stop these messages: {{ unsubscribe_url }}\n"
    "Choose what you receive: {{ preferences_url }}{% endif %}"
)
#: The text demo databases made before preferences_url existed hold (updated if unedited).
OLD_NEW_ORDER_TEXT = (
    "Hello {{ recipient }}, {{ instance.customer|default:'someone' }} ordered {{ instance.item }} for "
    "{{ instance.total }}.\n\n{% if unsubscribe_url %}Stop these messages: {{ unsubscribe_url }}{% endif %}"
)


class Command(BaseCommand):
    help = "Create admin/admin and sample triggers, templates, backends and subscriptions."

    def add_arguments(self, parser):
        parser.add_argument("--sample-order", action="store_true", help="also create one order now")

    def handle(self, *args, sample_order=False, **options):
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password("admin")
            admin.save()
        # A customer (not staff) whose orders email them, with an unsubscribe link leading to
        # the preferences page (log in there as customer / customer).
        customer, created = user_model.objects.get_or_create(
            username="customer", defaults={"email": "customer@example.com", "first_name": "Casey"}
        )
        if created:
            customer.set_password("customer")
            customer.save()
        if sample_order:
            order = Order.objects.create(customer=customer, item="Sample teapot", total="19.90")
            self.stdout.write(f"Created {order}; the worker prints its messages in a moment.")
            return
        if Trigger.objects.exists():
            self.stdout.write("Demo configuration already present.")
        else:
            self.create_configuration(admin)
        self.add_inbox(admin)  # also into a demo database made before the inbox existed
        for template in MessageTemplate.objects.filter(name="New order", text=OLD_NEW_ORDER_TEXT):
            template.text = NEW_ORDER_TEXT
            template.save()

    def create_configuration(self, admin):
        order_ct = ContentType.objects.get_for_model(Order)
        created_tpl = MessageTemplate.objects.create(
            name="New order", subject="New order #{{ instance.pk }}", text=NEW_ORDER_TEXT
        )
        paid_tpl = MessageTemplate.objects.create(
            name="Order paid",
            subject="Order #{{ instance.pk }} paid",
            text="{{ actor|default:'Someone' }} marked {{ instance }} as paid (target: {{ target }}).",
        )
        shipped_tpl = MessageTemplate.objects.create(
            name="Order shipped",
            subject="Order #{{ instance.pk }} shipped",
            text="Good news {{ recipient }}: {{ instance.item }} is on its way.",
        )
        console_shipped = Backend.objects.create(name="Console (shipped)", messenger="console", template=shipped_tpl)
        console = Backend.objects.create(name="Console", messenger="console", template=created_tpl)
        console_paid = Backend.objects.create(name="Console (paid)", messenger="console", template=paid_tpl)
        backends_new = [console]
        if get_messenger_class("email"):
            backends_new.append(Backend.objects.create(name="Email", messenger="email", template=created_tpl))
        new_order = Trigger.objects.create(
            name="Order created", verb="post_save", action_object_type=order_ct, conditions=[{"op": "created"}]
        )
        paid = Trigger.objects.create(name="Order paid", verb="order_paid", action_object_type=order_ct)
        status = Trigger.objects.create(
            name="Order shipped",
            verb="post_save",
            action_object_type=order_ct,
            conditions=[{"field": "status", "op": "changed_from_to", "from": "paid", "to": "shipped"}],
        )
        for trigger, backends in ((new_order, backends_new), (paid, [console_paid]), (status, [console_shipped])):
            sub = Subscription.objects.create(trigger=trigger, dynamic_receivers=["instance.customer"])
            sub.backends.add(*backends)
            sub.receiver_users.add(admin)
        self.stdout.write(self.style.SUCCESS("Demo configuration created (3 triggers, admin/admin)."))

    def add_inbox(self, admin):
        """New orders also reach the admin's in-site inbox: the badge in the admin's user links."""
        new_order = Trigger.objects.filter(name="Order created").first()
        if not get_messenger_class("inbox") or new_order is None or Backend.objects.filter(messenger="inbox").exists():
            return
        template = MessageTemplate.objects.create(
            name="New order (inbox)",
            subject="New order #{{ instance.pk }}: {{ instance.item }}",
            text="{{ instance.customer|default:'Someone' }} ordered {{ instance.item }} for {{ instance.total }}.",
        )
        inbox = Backend.objects.create(
            name="Staff inbox",
            messenger="inbox",
            template=template,
            options={"level": "info", "category": "orders", "link": "/admin/shop/order/{{ instance.pk }}/change/"},
        )
        sub = Subscription.objects.create(name="Staff inbox", trigger=new_order)
        sub.backends.add(inbox)
        sub.receiver_users.add(admin)
        self.stdout.write(self.style.SUCCESS("Staff inbox added: new orders count up admin's Notifications badge."))
