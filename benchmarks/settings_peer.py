"""The peer: django-notifications-hq, with the one-line shim it needs on Django >= 5.1.

django-notifications-hq 1.8.3 (the newest release) declares ``index_together`` in its
models' Meta; Django 5.1 removed that option, so importing the app raises
``TypeError: 'class Meta' got invalid attribute(s): index_together``. The shim lets Django
accept (and ignore) that option, so the library's own ``notify_handler`` and migrations run
unmodified; its one missing index is (recipient, unread), which only makes its inserts cheaper.
"""

from benchmarks.peer_compat import allow_index_together
from benchmarks.settings_base import *  # noqa: F403
from benchmarks.settings_base import INSTALLED_APPS

allow_index_together()
INSTALLED_APPS = [*INSTALLED_APPS, "notifications"]
