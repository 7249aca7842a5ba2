"""``manage.py dsn_render``: render a message template for an object and a user."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsn_core.errors import TemplateError
from dsn_core.forms import render_for
from dsn_core.models import MessageTemplate
from dsn_core.plugins import get_messenger_class
from dsn_core.receivers import Event
from dsn_core.verbs import all_verbs, get_verb

from ._args import get_model, get_object, get_user, parse_pairs


class Command(BaseCommand):
    # Broken plugin settings must not stop these commands: they report problems themselves.
    requires_system_checks: list[str] = []
    help = "Render a message template: dsn_render <template id or name> --model app.model --pk N --user username"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("template", help="The template's id or its exact name.")
        parser.add_argument("--model", help="The action object's model (app_label.model_name).")
        parser.add_argument("--pk", help="The action object's primary key.")
        parser.add_argument("--user", help="The recipient's username (also the actor).")
        parser.add_argument("--verb", default="post_save", help="The verb the template sees (default post_save).")
        parser.add_argument("--target", help="The target the template sees.")
        parser.add_argument(
            "--kw",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Another signal argument the template sees (repeatable).",
        )
        parser.add_argument("--messenger", help="Escape substituted values as this messenger does.")
        parser.add_argument("--address", default="", help="The address the template sees.")

    def handle(self, *args: Any, **options: Any) -> None:
        template = find_template(options["template"])
        if get_verb(options["verb"]) is None:
            raise CommandError(
                f"--verb: no verb {options['verb']!r} is registered; registered verbs: "
                f"{', '.join(sorted(all_verbs()))}."
            )
        if options["pk"] is not None and not options["model"]:
            raise CommandError("--pk needs --model.")
        obj = None
        if options["model"]:
            model = get_model(options["model"])
            if options["pk"] is None:
                raise CommandError("--model needs --pk.")
            obj = get_object(model, options["pk"])
        user = get_user(options["user"]) if options["user"] else None
        messenger = None
        if options["messenger"]:
            cls = get_messenger_class(options["messenger"])
            if cls is None:
                raise CommandError(f"--messenger: no messenger {options['messenger']!r} is installed.")
            try:
                messenger = cls()
            except (ValidationError, ImproperlyConfigured) as exc:
                raise CommandError(f"--messenger: {exc}") from None
        event = Event(
            verb=options["verb"],
            action_object=obj,
            actor=user,
            target=options["target"],
            kwargs=parse_pairs(options["kw"], "--kw"),
        )
        try:
            subject, text, html = render_for(template, event, user, address=options["address"], messenger=messenger)
        except TemplateError as exc:
            raise CommandError(f"Template {template.name!r} (#{template.pk}) does not render: {exc}") from None
        self.stdout.write(f"Subject: {subject}\n\n{text}")
        if html:
            self.stdout.write(f"\n--- HTML ---\n{html}")


def find_template(ref: str) -> MessageTemplate:
    """The template with id ``ref``, else the one named ``ref``; ``CommandError`` otherwise."""
    if ref.isdigit():
        found = MessageTemplate.objects.filter(pk=int(ref)).first()
        if found is not None:
            return found
    matches = list(MessageTemplate.objects.filter(name=ref).order_by("pk")[:5])
    if not matches:
        raise CommandError(f"No message template with id or name {ref!r}.")
    if len(matches) > 1:
        ids = ", ".join(str(t.pk) for t in matches)
        raise CommandError(f"Several message templates are named {ref!r} (ids {ids}); give the id.")
    return matches[0]
