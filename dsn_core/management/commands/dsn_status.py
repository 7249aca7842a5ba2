"""``manage.py dsn_status``: DSN's queue at a glance, and an exit code for monitors."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dsn_core.status import snapshot


class Command(BaseCommand):
    help = (
        "Show deliveries by status, work waiting per messenger, and how long the oldest due work has "
        "waited. With --max-wait, exit with an error when it has waited longer (for health checks)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print JSON instead of text.")
        parser.add_argument(
            "--max-wait",
            type=float,
            metavar="SECONDS",
            help="Fail when due work has waited longer than this (workers down or behind).",
        )

    def handle(self, *args: Any, as_json: bool, max_wait: float | None, **options: Any) -> None:
        if max_wait is not None and max_wait < 0:
            raise CommandError("--max-wait must be zero or positive.")
        state = snapshot()
        self.stdout.write(json.dumps(state, indent=2, sort_keys=True) if as_json else _text(state))
        if max_wait is not None and state["oldest_wait_seconds"] > max_wait:
            raise CommandError(
                f"DSN: due work has waited {state['oldest_wait_seconds']:g} s "
                f"(more than {max_wait:g} s): are the workers running?"
            )


def _text(state: dict[str, Any]) -> str:
    counts = ", ".join(f"{status} {n}" for status, n in state["deliveries"].items())
    lines = [
        f"deliveries: {counts}",
        f"awaiting fan-out: {state['awaiting_fan_out']} notifications",
        f"failed and due for a retry: {state['failed_due']}",
        f"dead in the last 24 h: {state['dead_last_24h']}",
        f"oldest due work has waited: {state['oldest_wait_seconds']:g} s",
    ]
    for messenger, statuses in sorted(state["waiting_by_messenger"].items()):
        waiting = ", ".join(f"{status} {n}" for status, n in sorted(statuses.items()))
        lines.append(f"  {messenger}: {waiting}")
    return "\n".join(lines)
