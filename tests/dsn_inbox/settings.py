"""tests.settings for the processes the live-update tests start (uvicorn, the event firer).

``DSN_INBOX_REDIS_URL`` turns on the Redis path; ``DSN_INBOX_CHANNEL`` keeps each test's
pub/sub channel (and PostgreSQL NOTIFY channel) its own.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DSN

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.dsn_inbox.urls"
DSN = {
    **DSN,
    "INBOX": {
        "REDIS_URL": os.environ.get("DSN_INBOX_REDIS_URL", ""),
        "CHANNEL": os.environ.get("DSN_INBOX_CHANNEL", "dsn_inbox"),
        "POLL_INTERVAL": 0.2,
        "HEARTBEAT": 2.0,
    },
}
