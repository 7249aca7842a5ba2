"""``manage.py dsn_sweep``: re-enqueue work a lost worker or queue message left behind."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dsn_core.sweep import sweep


class Command(BaseCommand):
    help = "Re-enqueue notifications and deliveries left pending or stuck in 'sending' (safe to run concurrently)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--grace", type=float, default=30.0, help="Only touch work older than this many seconds (default 30)."
        )
        parser.add_argument(
            "--loop",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Keep sweeping every SECONDS instead of once (e.g. --loop 60).",
        )

    def handle(self, *args: Any, grace: float, loop: float, **options: Any) -> None:
        if grace < 0 or loop < 0:
            raise CommandError("--grace and --loop must be zero or positive.")
        while True:
            report = sweep(grace=grace)
            self.stdout.write(
                f"fan-outs re-enqueued: {report['fan_outs']}, deliveries released: {report['released']}, "
                f"senders enqueued: {report['senders']}, old notifications pruned: {report['pruned_notifications']}"
            )
            if not loop:
                return
            time.sleep(loop)
