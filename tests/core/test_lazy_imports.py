"""Web processes only write outbox rows: loading DSN and its channels must not import the
channels' provider SDKs (python-telegram-bot and httpx, twilio, tweepy, requests), which
only workers need.

Each check runs in a fresh interpreter, since this test process has imported them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDKS = ("telegram", "httpx", "twilio", "tweepy", "requests")

PROBE = """
import json, sys
import django
django.setup()
from django.urls import resolve, reverse
from dsn_core.plugins import messenger_choices, registry
from dsn_core.models import Delivery

registry()
messenger_choices()
for cls in registry().messengers.values():
    cls.label, cls.options, cls.rate_limits, cls.settings_section()
# the site's URLconf, with every plugin's webhook and linking views
for name in ("dsn_core:dsn_telegram_webhook", "dsn_core:dsn_telegram_connect", "dsn_core:dsn_sms_status"):
    resolve(reverse(name))
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(SDKS))))
"""


@pytest.mark.parametrize("sdk", SDKS)
def test_loading_dsn_and_its_urls_imports_no_provider_sdk(sdk: str) -> None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT), DSN_TEST_DB="sqlite")
    code = f"SDKS = {SDKS!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert sdk not in imported, f"{sdk} is imported by merely loading DSN (all imported: {imported})"
