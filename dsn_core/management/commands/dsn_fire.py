"""``manage.py dsn_fire``: send a registered verb's signal by hand, to test a flow end to end."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from dsn_core.verbs import Verb, all_verbs, get_verb

from ._args import get_model, get_object, parse_pairs


class Command(BaseCommand):
    # Broken plugin settings must not stop these commands: they report problems themselves.
    requires_system_checks: list[str] = []
    help = (
        "Send a registered verb's signal with the given arguments, e.g. "
        "dsn_fire post_save --model testapp.article --pk 3 --actor-pk 1 --target x --kw created=true"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("verb", help="A registered verb (see dsn_plugins).")
        parser.add_argument("--model", help="The action object's model (app_label.model_name); also the sender.")
        parser.add_argument("--pk", help="The action object's primary key.")
        parser.add_argument(
            "--actor-model", default=settings.AUTH_USER_MODEL, help="The actor's model (default: the user model)."
        )
        parser.add_argument("--actor-pk", help="The actor's primary key.")
        parser.add_argument("--target", help="The signal's target argument.")
        parser.add_argument(
            "--kw",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Another signal argument; VALUE is read as JSON when it parses (repeatable).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verb = get_verb(options["verb"])
        if verb is None:
            known = ", ".join(sorted(all_verbs()))
            raise CommandError(f"No verb {options['verb']!r} is registered; registered verbs: {known}.")
        kwargs = parse_pairs(options["kw"], "--kw")
        sender: Any = None
        obj: Any = None
        if options["pk"] is not None and not options["model"]:
            raise CommandError("--pk needs --model.")
        if options["model"]:
            sender = get_model(options["model"])
            if options["pk"] is not None:
                obj = get_object(sender, options["pk"])
        if verb.model_signal:
            if obj is None:
                raise CommandError(f"{verb.name} is a model signal: give --model and --pk.")
            kwargs.setdefault("raw", False)
            kwargs.setdefault("using", DEFAULT_DB_ALIAS)
            if verb.name == "post_save":
                kwargs.setdefault("created", False)
                kwargs.setdefault("update_fields", None)
        if obj is not None:
            kwargs[self._arg(verb, "action_object_arg", "instance", "--pk")] = obj
        if options["actor_pk"] is not None:
            actor = get_object(get_model(options["actor_model"], "--actor-model"), options["actor_pk"], "--actor-pk")
            kwargs.setdefault(self._arg(verb, "actor_arg", "actor", "--actor-pk"), actor)
        if options["target"] is not None:
            kwargs["target"] = options["target"]
        self._send(verb, sender, kwargs)

    @staticmethod
    def _arg(verb: Verb, attribute: str, default: str, flag: str) -> str:
        name = getattr(verb, attribute)
        if name == "":
            raise CommandError(
                f"{verb.name} takes no {'actor' if attribute == 'actor_arg' else 'action object'}; drop {flag}."
            )
        return name or default

    def _send(self, verb: Verb, sender: Any, kwargs: dict[str, Any]) -> None:
        from dsn_core.models import Notification

        last = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        try:
            verb.signal.send(sender=sender, **kwargs)
        except Exception as exc:
            raise CommandError(f"A receiver of {verb.name} raised {type(exc).__name__}: {exc}") from exc
        created = list(Notification.objects.filter(pk__gt=last, verb=verb.name).order_by("pk"))
        if not created:
            self.stdout.write(
                self.style.WARNING(f"Sent {verb.name}; no enabled trigger matched, so nothing will be delivered.")
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Sent {verb.name}; {len(created)} notification(s) created:"))
        for notification in created:
            self.stdout.write(f"  #{notification.pk} {notification.trigger_name}")
        self.stdout.write("Their fan-out is queued on the task backend.")
