"""``manage.py dsn_prune``: delete finished notifications (and their deliveries) older than N days."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dsn_core import conf
from dsn_core.retention import prune


class Command(BaseCommand):
    help = (
        "Delete notifications older than --days (default DSN['RETENTION_DAYS']) whose deliveries are all "
        "sent, dead or skipped, with those deliveries. Work still in flight is never touched."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=float, help="Keep this many days (default: DSN['RETENTION_DAYS']).")
        parser.add_argument("--batch", type=int, default=1000, help="Notifications per transaction (default 1000).")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")

    def handle(self, *args: Any, days: float | None, batch: int, dry_run: bool, **options: Any) -> None:
        if days is None:
            days = conf.get("RETENTION_DAYS")
        if days is None:
            raise CommandError("Give --days, or set DSN['RETENTION_DAYS'].")
        if float(days) < 0 or batch < 1:
            raise CommandError("--days must be zero or positive and --batch at least 1.")
        done = prune(float(days), batch=batch, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {done['notifications']} notifications and {done['deliveries']} deliveries "
            f"older than {float(days):g} days"
        )
