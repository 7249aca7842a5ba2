"""``manage.py dsn_plugins``: what each installed DSN plugin registers and whether it is healthy."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dsn_core.plugins import Registry, registry, report

KINDS = ("messengers", "engines", "signals", "resolvers")


class Command(BaseCommand):
    # Broken plugin settings must not stop these commands: they report problems themselves.
    requires_system_checks: list[str] = []
    help = (
        "List installed DSN plugins: distribution, version, hooks, registered keys, and whether each "
        "plugin loaded (BROKEN: it did not; the others still work) and passes its configuration checks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="Only these plugins (entry-point names).")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        parser.add_argument(
            "--check", action="store_true", help="Exit with an error if any plugin is broken or fails its checks."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reg = registry()
        report = build_report(reg)
        names = options["names"]
        if names:
            unknown = sorted(set(names) - {p["name"] for p in report})
            if unknown:
                known = ", ".join(p["name"] for p in report) or "none"
                raise CommandError(f"No DSN plugin named {', '.join(unknown)}; installed: {known}.")
            report = [p for p in report if p["name"] in names]
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(self._text(report))
        bad = [p["name"] for p in report if p["status"] in ("broken", "errors")]
        if options["check"] and bad:
            raise CommandError(f"{len(bad)} DSN plugin(s) with problems: {', '.join(bad)}.")

    def _text(self, report: list[dict[str, Any]]) -> str:
        if not report:
            return "No DSN plugins."
        lines: list[str] = []
        style = {
            "ok": self.style.SUCCESS,
            "warnings": self.style.WARNING,
            "errors": self.style.ERROR,
            "broken": self.style.ERROR,
        }
        for plugin in report:
            lines.append(
                f"{plugin['name']}  ({plugin['distribution']} {plugin['version']})  "
                + style[plugin["status"]](plugin["status"].upper())
            )
            if plugin["hooks"]:
                lines.append(f"  hooks: {', '.join(plugin['hooks'])}")
            for kind in KINDS:
                keys = plugin["registered"].get(kind)
                if keys:
                    lines.append(f"  {kind}: {', '.join(keys)}")
            for problem in plugin["problems"]:
                lines.append(f"  problem: {problem}")
            if plugin["fix"]:
                lines.append(f"  fix: {plugin['fix']}")
            for check in plugin["checks"]:
                lines.append(
                    f"  {check['level']} {check['id']}: {check['message']}"
                    + (f" (hint: {check['hint']})" if check["hint"] else "")
                )
        return "\n".join(lines)


def build_report(reg: Registry) -> list[dict[str, Any]]:
    """One dict per plugin: see :func:`dsn_core.plugins.report`."""
    return report(reg)
