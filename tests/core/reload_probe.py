"""Run as a separate process by test_reload.py: a "web server" that saves an Article every
20 ms for ``seconds`` and prints, per save, the time and whether DSN wrote a Notification.
"""

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django

django.setup()

from dsn_core.models import Notification  # noqa: E402
from tests.testapp.models import Article  # noqa: E402

seconds = float(sys.argv[1])
end = time.time() + seconds
print("ready", flush=True)
while time.time() < end:
    before = Notification.objects.count()
    Article.objects.create(title="probe")
    produced = Notification.objects.count() > before
    print(f"{time.time():.3f} {int(produced)}", flush=True)
    time.sleep(0.02)
