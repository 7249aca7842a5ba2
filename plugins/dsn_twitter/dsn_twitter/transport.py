"""The tweepy client, on a session routed by :func:`dsn_core.http.route_requests`.

tweepy hard-codes ``https://api.twitter.com`` and never passes a timeout. The core's routing
adapter, mounted on ``client.session`` for the X API hosts, sends each request to
``API_BASE_URL`` (a proxy, or a fake server in tests) with ``TIMEOUT``.

The messenger imports this module only when it opens a connection to send, so that merely
loading the plugin imports neither tweepy nor ``requests``.
"""

from __future__ import annotations

import tweepy

from dsn_core.api import route_requests

from .config import TwitterConfig

#: The hosts tweepy sends to (``api.x.com`` in case a later tweepy switches).
API_HOSTS = ("https://api.twitter.com", "https://api.x.com")


def connect(cfg: TwitterConfig) -> tweepy.Client:
    """A tweepy client for ``cfg``'s account (OAuth 1.0a user context), routed and time-limited."""
    client = tweepy.Client(
        consumer_key=cfg.consumer_key,
        consumer_secret=cfg.consumer_secret,
        access_token=cfg.access_token,
        access_token_secret=cfg.access_token_secret,
        return_type=dict,
        wait_on_rate_limit=False,
    )
    route_requests(client.session, cfg.api_base_url, timeout=cfg.timeout, prefixes=API_HOSTS)
    return client
