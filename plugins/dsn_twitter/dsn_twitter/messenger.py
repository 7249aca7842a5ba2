"""The ``twitter`` messenger: a post on the account's timeline, or a direct message."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured, ValidationError

from dsn_core.api import ConfigurationError, Message, Messenger, Option, PermanentError, RateLimit, SendResult

from . import config
from .errors import translate
from .text import DM_LIMIT, TWEET_LIMIT, fit, weighted_length

if TYPE_CHECKING:
    import tweepy

logger = logging.getLogger("dsn_twitter")

TWEET = "tweet"
DM = "dm"
#: The fixed address that stands for "the posting account's own timeline" in tweet mode.
TIMELINE = "timeline"
USER_ID = re.compile(r"^[1-9]\d{0,19}$")


class TwitterMessenger(Messenger):
    """Posts on X through the API v2 with tweepy, as the account whose tokens are configured.

    ``mode="tweet"`` (default) posts one tweet per delivery; users have no address in this
    mode, so give the subscription the fixed address ``timeline``. ``mode="dm"`` sends a
    direct message to each user's numeric X user id from the address book.
    """

    key = "twitter"
    label = "X (Twitter)"
    options = (
        Option(
            "mode",
            "tweet: post on the account's timeline; dm: direct message each user.",
            default=TWEET,
            choices=(TWEET, DM),
        ),
        Option("include_subject", "Put the rendered subject on the first line.", default=False, type=bool),
    )
    max_batch_size: ClassVar[int] = 20
    #: DMs go to the user ids in the address book; tweets to no user: no user field is read.
    user_fields = ()

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.client: tweepy.Client | None = None
        self.config: config.TwitterConfig | None = None
        self.config_error: ConfigurationError | None = None

    @property
    def mode(self) -> str:
        """``"tweet"`` or ``"dm"``."""
        return str(self.option_values.get("mode") or TWEET)

    @classmethod
    def check(cls) -> list[CheckMessage]:
        """Errors for missing or malformed ``DSN["TWITTER"]`` settings."""
        return config.check()

    def rate_limits_for(self, address: str) -> Sequence[RateLimit]:
        """``RATE_LIMIT`` for the whole account (default 200 per 15 minutes).

        Daily caps that depend on the X plan are not declared: X answers 429 with the time
        the window resets, and the delivery is retried then without holding a worker.
        """
        try:
            count, per = config.load().rate_limit
        except ImproperlyConfigured:
            count, per = config.DEFAULT_RATE_LIMIT
        return (RateLimit(count=count, per=per),)

    # -- addresses -----------------------------------------------------------------------

    @classmethod
    def clean_address(cls, address: str) -> str:
        """``timeline`` (tweet mode) or a numeric X user id (dm mode)."""
        value = address.strip()
        if value.lower() in (TIMELINE, "@timeline"):
            return TIMELINE
        if USER_ID.fullmatch(value):
            return value
        raise ValidationError(
            "Enter 'timeline' (post on the account's timeline) or a numeric X user id (for direct messages); "
            "@handles are not ids.",
            code="invalid_x_address",
        )

    def backend_addresses(self) -> list[str]:
        """Tweet mode posts once per notification on the account's own timeline."""
        return [TIMELINE] if self.mode == TWEET else []

    def address_for(self, user: Any) -> str | None:
        """No per-user address in tweet mode; the address book entry in dm mode."""
        if self.mode == TWEET:
            return None
        return super().address_for(user)

    def addresses_for(self, users: Iterable[Any]) -> dict[Any, str]:
        """No per-user addresses in tweet mode; dm mode reads the address book."""
        if self.mode == TWEET:
            return {}
        return super().addresses_for(users)

    # -- sending -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the tweepy client with a routed, time-limited HTTP session."""
        if self.client is not None:
            return
        try:
            self.config = config.load()
        except ImproperlyConfigured as exc:
            self.config_error = ConfigurationError(str(exc))
            return
        self.config_error = None
        from .transport import connect  # imported here: only workers, which send, need tweepy

        self.client = connect(self.config)

    def close(self) -> None:
        """Close the HTTP session."""
        if self.client is not None:
            self.client.session.close()
        self.client = None

    @property
    def limit(self) -> int:
        """The mode's limit: 280 weighted characters for a post, 10,000 for a DM."""
        return TWEET_LIMIT if self.mode == TWEET else DM_LIMIT

    def full_text(self, message: Message) -> str:
        """The text before any cut: optional subject line, then the text."""
        text = message.text.strip()
        if self.option_values.get("include_subject") and message.subject.strip():
            text = f"{message.subject.strip()}\n{text}"
        return text

    def text(self, message: Message) -> str:
        """The text to post: :meth:`full_text` fitted to the mode's limit as X counts it."""
        return fit(self.full_text(message), self.limit)

    def preview_notes(self, message: Message) -> list[str]:
        """X's weighted length of the text against the mode's limit, and the length after the cut if over."""
        length = weighted_length(self.full_text(message))
        what = "post" if self.mode == TWEET else "direct message"
        note = f"X counts {length} of {self.limit} for a {what} (each URL 23, each emoji 2, CJK characters 2)"
        if length > self.limit:
            note += f"; over the limit, it will be cut to {weighted_length(self.text(message))} with an ellipsis"
        return [note + "."]

    def send(self, message: Message) -> SendResult:
        """Post one tweet or DM; return its id at X, or raise a ``DeliveryError``."""
        text = self.text(message)
        if not text:
            raise PermanentError("nothing to post: the rendered text is empty")
        if self.mode == DM and not USER_ID.fullmatch(message.address or ""):
            raise PermanentError(f"{message.address!r} is not a numeric X user id (needed for direct messages)")
        self.open()
        if self.config_error is not None:
            raise self.config_error
        assert self.client is not None and self.config is not None
        try:
            if self.mode == DM:
                answer = self.client.create_direct_message(participant_id=message.address, text=text)
                provider_id = (answer.get("data") or {}).get("dm_event_id", "")
            else:
                answer = self.client.create_tweet(text=text)
                provider_id = (answer.get("data") or {}).get("id", "")
        except Exception as exc:
            raise translate(exc, self.config.secrets) from None
        return SendResult(provider_id=str(provider_id))
