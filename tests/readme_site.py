"""The README's "Add DSN to your site in 5 minutes", followed to the letter in a fresh site.

Takes the section's own code blocks: checks the ``pip install`` line's distributions are
installed, runs ``django-admin startproject``, appends each ``# settings.py`` / ``# urls.py``
part to the file of that name, runs the ``python manage.py`` lines (``migrate`` first; the
long-running ``db_worker`` and ``dsn_sweep --loop`` in the background), does the admin steps
the section lists (trigger, the template's subject and text as quoted, the console backend, a
subscription) and creates an object; the message must reach the worker's output and its
delivery be ``sent``, and the remaining commands (``dsn_status --max-wait``) must succeed::

    python -m tests.readme_site README.md /tmp/dsn-readme-site [--python /path/to/venv/bin/python]

CI runs it with the wheels installed in a fresh virtualenv; tests/core/test_readme_site.py
runs it in the suite.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Add DSN to your site in 5 minutes"
_BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.M | re.S)
_FILE = re.compile(r"^# (?P<name>\w+\.py)\s*$")
BACKGROUND = ("db_worker", "--loop")
OBJECT_NAME = "readme-check"


class SetupFailed(AssertionError):
    """A step of the README did not work as written."""


@dataclass
class Section:
    """What the README section says to do."""

    packages: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    messenger_label: str = ""


def section(readme: Path = README) -> Section:
    """Parse the five-minute section of ``readme``."""
    content = readme.read_text()
    start = content.index(SECTION)
    end = content.find("\n## ", start + len(SECTION))
    text = content[start : end if end != -1 else len(content)]
    found = Section()
    for match in _BLOCK.finditer(text):
        lang, body = match["lang"], match["body"]
        if lang == "python":
            current = None
            for line in body.splitlines(keepends=True):
                named = _FILE.match(line)
                if named:
                    current = named["name"]
                    found.files.setdefault(current, "")
                elif current is not None:
                    found.files[current] += line
        elif lang in ("bash", "sh", "shell"):
            for line in body.splitlines():
                command = line.split("#", 1)[0].strip()
                if command.startswith("pip install "):
                    found.packages += command.split()[2:]
                elif command.startswith("python manage.py "):
                    found.commands.append(command)
    template = re.search(r"subject `(?P<subject>[^`]+)`, text `(?P<text>[^`]+)`", text)
    backend = re.search(r"messenger \*(?P<label>[^*]+)\*", text)
    if not (found.files and found.commands and template and backend):
        raise SetupFailed(f"{readme}: the section no longer has its settings/urls blocks, commands or admin steps")
    found.subject, found.text, found.messenger_label = template["subject"], template["text"], backend["label"]
    return found


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 180) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SetupFailed(f"`{' '.join(args)}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a background command and everything it started (db_worker's reloader child)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


ADMIN_STEPS = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from dsn_core.models import Backend, MessageTemplate, Subscription, Trigger
from dsn_core.plugins import messenger_choices

key = [k for k, label in messenger_choices() if label == {label!r}][0]
you = get_user_model().objects.create_user("you")
trigger = Trigger.objects.create(name="readme", verb="post_save",
                                 action_object_type=ContentType.objects.get_for_model(Group))
template = MessageTemplate(name="readme", subject={subject!r}, text={text!r})
template.full_clean()
template.save()
backend = Backend.objects.create(name="readme", messenger=key, template=template)
subscription = Subscription.objects.create(trigger=trigger)
subscription.backends.add(backend)
subscription.receiver_users.add(you)
Group.objects.create(name={name!r})
"""

STATUS = """
from dsn_core.models import Delivery
print(sorted(Delivery.objects.values_list("status", flat=True)))
"""


def build(dest: Path, python: str = sys.executable, readme: Path = README, deadline: float = 90) -> dict[str, str]:
    """Follow the section in a new site under ``dest``; return what was seen. ``SetupFailed`` if a step fails."""
    steps = section(readme)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE" and not k.startswith("DSN_")}
    env["PYTHONPATH"] = ""
    env.setdefault("NO_PROXY", "127.0.0.1,localhost")
    dest.mkdir(parents=True, exist_ok=True)
    names = [p for p in steps.packages if not p.startswith("-")]
    _run([python, "-c", "import importlib.metadata as m, sys; [m.version(n) for n in sys.argv[1:]]", *names], dest, env)
    _run([python, "-m", "django", "startproject", "mysite", str(dest)], dest, env)
    major = int(_run([python, "-c", "import django; print(django.VERSION[0])"], dest, env))
    for name, body in steps.files.items():
        if name == "settings.py" and major >= 6 and 'Django 6: drop "django_tasks"' in body:
            body = body.replace('"django_tasks", ', "", 1)  # the README's own instruction
        target = dest / "mysite" / name
        if not target.exists():
            raise SetupFailed(f"the README appends to {name}, which startproject does not create")
        target.write_text(target.read_text() + "\n" + body)

    def argv(command: str) -> list[str]:
        args = shlex.split(command)
        return [python, *args[1:]]

    migrate = [c for c in steps.commands if c.split()[2] == "migrate"]
    background = [c for c in steps.commands if any(word in c.split() for word in BACKGROUND)]
    later = [c for c in steps.commands if c not in migrate and c not in background]
    for command in migrate:
        _run(argv(command), dest, env)
    _run([python, "manage.py", "check"], dest, env)
    log = dest / "background.log"
    procs: list[subprocess.Popen[bytes]] = []
    seen: dict[str, str] = {}
    try:
        with log.open("wb") as out:
            for command in background:
                procs.append(
                    subprocess.Popen(
                        argv(command), cwd=dest, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
            code = ADMIN_STEPS.format(
                label=steps.messenger_label, subject=steps.subject, text=steps.text, name=OBJECT_NAME
            )
            _run([python, "manage.py", "shell", "-c", code], dest, env)
            expected = steps.text.replace('{{ actor|default:"Someone" }}', "Someone").replace(
                "{{ instance }}", OBJECT_NAME
            )
            until = time.monotonic() + deadline
            while expected not in log.read_text(errors="replace"):
                dead = [p for p in procs if p.poll() is not None]
                if dead or time.monotonic() > until:
                    raise SetupFailed(
                        f"no message {expected!r} from the worker within {deadline}s"
                        f"{' (a background command exited)' if dead else ''}:\n{log.read_text()}"
                    )
                time.sleep(0.2)
            seen["message"] = expected
            seen["statuses"] = _run([python, "manage.py", "shell", "-c", STATUS], dest, env).strip().splitlines()[-1]
            if seen["statuses"] != "['sent']":
                raise SetupFailed(f"deliveries: {seen['statuses']}")
            for command in later:
                seen[command] = _run(argv(command), dest, env)
    finally:
        for proc in procs:
            _stop(proc)
    return seen


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readme", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the environment to test")
    options = parser.parse_args()
    result = build(options.dest, options.python, options.readme)
    for key, value in result.items():
        print(f"{key}: {value.strip()}")
    print("README setup: OK")
