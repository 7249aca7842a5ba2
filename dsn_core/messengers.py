"""The messenger API: what a channel plugin implements.

A messenger is a class registered through the ``register_messengers`` hook
(see :mod:`dsn_core.hookspecs`). The core creates one instance per backend and batch,
calls :meth:`Messenger.send_batch` with rendered :class:`Message` objects and records
one outcome per message. Messengers are synchronous to the core; a plugin built on an
asyncio client library runs its own event loop inside ``send_batch``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError

from .errors import DeliveryError, PermanentError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.core.checks import CheckMessage


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` messages per ``per`` seconds.

    ``scope="messenger"`` limits the whole messenger (all workers together);
    ``scope="address"`` limits each address separately (e.g. one Telegram chat).
    """

    count: int
    per: float
    scope: str = "messenger"

    def __post_init__(self) -> None:
        if self.scope not in ("messenger", "address"):
            raise ValueError(f"RateLimit scope must be 'messenger' or 'address', not {self.scope!r}")
        if self.count < 1 or self.per <= 0:
            raise ValueError("RateLimit needs count >= 1 and per > 0")


#: How text is read as a boolean option (case and surrounding spaces ignored).
TRUE_WORDS = frozenset({"true", "1", "on", "yes", "y"})
FALSE_WORDS = frozenset({"false", "0", "off", "no", "n", ""})


@dataclass(frozen=True)
class Option:
    """One backend option a messenger accepts (shown as a help line in the admin).

    ``type`` is ``str``, ``bool``, ``int`` or ``float``; values arrive in the messenger's
    ``self.option_values`` already converted by :meth:`convert` (``"false"``, ``"0"``, ``"off"``,
    ``"no"`` are ``False``), checked against ``choices``, with ``default`` filled in when the
    admin left the option out.
    """

    name: str
    help: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    type: type = str

    def convert(self, value: Any) -> Any:
        """``value`` (as stored in a Backend's JSON options, often text) as ``self.type``.

        Raises ``ValueError`` with a sentence an admin can act on.
        """
        kind = self.type
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
                return value.strip().lower() in TRUE_WORDS
            raise ValueError(f"Option {self.name!r} must be true or false, not {value!r}.")
        if kind is int:
            if isinstance(value, bool):
                raise ValueError(f"Option {self.name!r} must be a whole number, not {value!r}.")
            if isinstance(value, float) and value.is_integer():
                return int(value)
            try:
                return int(value.strip() if isinstance(value, str) else value)
            except (TypeError, ValueError):
                raise ValueError(f"Option {self.name!r} must be a whole number, not {value!r}.") from None
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(f"Option {self.name!r} must be a number, not {value!r}.")
            try:
                return float(value.strip() if isinstance(value, str) else value)
            except (TypeError, ValueError):
                raise ValueError(f"Option {self.name!r} must be a number, not {value!r}.") from None
        if kind is str:
            if isinstance(value, str):
                return value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)  # a chat id typed as a number
            raise ValueError(f"Option {self.name!r} must be text, not {value!r}.")
        if isinstance(value, kind):
            return value
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"Option {self.name!r} must be a {kind.__name__}, not {value!r}.") from None


#: Options every backend accepts, whatever its messenger: its own retry policy.
CORE_OPTIONS: tuple[Option, ...] = (
    Option("retry_base", "seconds before the first retry (exponential backoff with full jitter)", type=float),
    Option("retry_cap", "the longest wait between two attempts, in seconds", type=float),
    Option("retry_max_attempts", "attempts before a delivery is given up as dead", type=int),
)


@dataclass
class Message:
    """One rendered message for one address, handed to :meth:`Messenger.send_batch`."""

    address: str
    subject: str
    text: str
    html: str = ""
    #: The receiving user, or ``None`` for a fixed address (an ops chat, a list address).
    recipient: AbstractBaseUser | None = None
    #: Primary key of the Delivery row, for provider metadata and logs.
    delivery_id: int | None = None
    #: Signed one-click unsubscribe URL (absolute when ``DSN["BASE_URL"]`` is set), or "".
    unsubscribe_url: str = ""
    #: Extras for providers that take metadata: ``notification`` (the event's id) and ``verb``
    #: today; more keys may be added (never removed in 0.x). Read them through the properties below.
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def notification_id(self) -> int | None:
        """The event this message is part of (the Notification's id), the same for every
        recipient and backend of one event: group or deduplicate by it. ``None`` for test sends."""
        value = self.metadata.get("notification")
        return int(value) if value is not None else None

    @property
    def verb(self) -> str:
        """The verb of the event (``"post_save"``, ``"order_paid"``), or ``""``."""
        return str(self.metadata.get("verb") or "")

    @property
    def idempotency_key(self) -> str:
        """A key that stays the same across every attempt of this delivery (``dsn-<id>``).

        Pass it to providers that deduplicate (an ``Idempotency-Key`` header, a client
        reference): a retry after a worker died mid-send then cannot deliver twice.
        """
        return f"dsn-{self.delivery_id}" if self.delivery_id is not None else ""


@dataclass(frozen=True)
class SendResult:
    """A message the provider accepted. ``provider_id`` is its id at the provider, if any."""

    provider_id: str = ""
    #: A new address for the recipient (e.g. a Telegram group that migrated); the core
    #: records it on the delivery. The messenger updates the address book itself.
    new_address: str = ""


Outcome = SendResult | DeliveryError


class DeprecatedOptionValues(dict[str, Any]):
    """A messenger's option values read through the old name, ``messenger.options`` on an instance.

    Every read warns (``DeprecationWarning``): read :attr:`Messenger.option_values` instead;
    ``Messenger.options`` is the :class:`Option` declarations. Removed in 0.4.
    """

    def _warn(self) -> None:
        warnings.warn(
            "Reading option values from messenger.options is deprecated and stops working in DSN 0.4: "
            "read self.option_values (messenger.options is the class's Option declarations).",
            DeprecationWarning,
            stacklevel=3,
        )

    def __getitem__(self, key: str) -> Any:
        self._warn()
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._warn()
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._warn()
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._warn()
        return super().__iter__()

    def items(self) -> Any:
        self._warn()
        return super().items()

    def keys(self) -> Any:
        self._warn()
        return super().keys()

    def values(self) -> Any:
        self._warn()
        return super().values()


class Messenger:
    """Base class for messengers. Subclass it, set ``key`` and ``label``, implement ``send``.

    Class attributes:

    ``key``
        Stable identifier stored in the database (``"telegram"``). Never change it.
    ``label``
        Human name shown in the admin dropdown (``"Telegram"``).
    ``options``
        The backend options this messenger accepts (:class:`Option` declarations); unknown
        options are rejected. An instance reads the backend's cleaned values from
        :attr:`option_values`.
    ``rate_limits``
        Limits the core's limiter enforces across all worker processes.
    ``max_batch_size``
        How many messages the core hands to one ``send_batch`` call.
    ``text_format``
        ``"plain"`` or ``"html"``; when ``escape`` is overridden, values substituted into
        templates pass through it (Telegram's MarkdownV2 needs this).
    ``user_fields``
        The user fields :meth:`addresses_for` reads; fan-out loads receivers with only these
        (see :attr:`user_fields`).
    """

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: The :class:`Option` declarations: the backend options this messenger accepts.
    options: ClassVar[Sequence[Option]] = ()
    rate_limits: ClassVar[Sequence[RateLimit]] = ()
    max_batch_size: ClassVar[int] = 100
    #: Overrides of the retry policy for this channel: any of ``base``, ``cap`` (seconds)
    #: and ``max_attempts``. A backend's ``retry_*`` options override these in turn.
    retry_policy: ClassVar[Mapping[str, float]] = {}
    #: Seconds one call (``open``, one ``send_batch``, ``close``) may take before the core stops
    #: waiting and records a transient error; ``None``: ``DSN["SEND_TIMEOUT"]`` (60). Set it a
    #: little above the client library's own timeouts for one call. ``0``: no deadline, each call
    #: runs inline in the worker (for messengers that do no I/O, like ``locmem``: saves a thread hop).
    send_timeout: ClassVar[float | None] = None
    #: Whether the provider honours :attr:`Message.idempotency_key` (a message sent again after a
    #: crash is not delivered twice). Then the core hands over whole batches; otherwise one
    #: message per ``send_batch`` call, each recorded before the next, so a crash repeats at most one.
    deduplicates: ClassVar[bool] = False
    #: Whether fixed addresses (an ops chat, a list address) make sense for this channel.
    supports_fixed_addresses: ClassVar[bool] = True
    #: Whether every message needs ``Message.unsubscribe_url`` (email's List-Unsubscribe
    #: header). Otherwise the core signs one only for templates that use ``unsubscribe_url``.
    wants_unsubscribe_url: ClassVar[bool] = False
    #: A channel for developers (the console, tests' local memory) that no person receives
    #: messages on: left out of the end users' preferences page.
    internal: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        #: This backend's option values: cleaned, converted to their declared types, defaults
        #: filled in (see :meth:`clean_options`).
        self.option_values: dict[str, Any] = self.clean_options(dict(options or {}))
        # Deprecated (0.3), removed in 0.4: the values were once read from ``self.options`` on the
        # instance. Kept readable there, warning, for plugins written that way.
        vars(self)["options"] = DeprecatedOptionValues(self.option_values)

    # -- configuration ---------------------------------------------------------------

    @classmethod
    def clean_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Validate backend options, convert them to their declared types and fill defaults;
        raise ``ValidationError`` listing every problem.

        Unknown names are refused; missing required options are errors; each value goes
        through :meth:`Option.convert` (so ``"false"`` is ``False`` for ``type=bool``, ``"3"`` is
        ``3`` for ``type=int``) and is then checked against ``choices``. An empty value (``None``
        or ``""``) counts as missing. Override to add checks, calling ``super()`` first: what
        it returns is already typed.
        """
        known = {opt.name: opt for opt in (*cls.options, *CORE_OPTIONS)}
        unknown = sorted(set(options) - set(known))
        errors: list[str] = []
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            errors.append(f"Unknown option(s) {', '.join(unknown)} for {cls.key}; allowed: {allowed}.")
        cleaned: dict[str, Any] = {}
        for name, opt in known.items():
            if name not in options or options[name] is None or options[name] == "":
                if opt.required:
                    errors.append(f"Option {name!r} is required: {opt.help}".rstrip(": "))
                elif opt.default is not None:
                    cleaned[name] = opt.default
                continue
            try:
                value = opt.convert(options[name])
            except ValueError as exc:
                errors.append(str(exc))
                continue
            if opt.choices is not None and value not in opt.choices:
                choices = ", ".join(map(str, opt.choices))
                errors.append(f"Option {name!r} must be one of {choices}, not {value!r}.")
                continue
            cleaned[name] = value
        if errors:
            raise ValidationError(errors)
        return cleaned

    @classmethod
    def check(cls) -> list[CheckMessage]:
        """Return Django system-check messages about this messenger's settings.

        While ``settings.DSN`` has no section for this messenger (see
        :meth:`settings_section`), the core reports its errors as warnings, so that
        installing a plugin never stops a site from starting before it is configured.
        """
        return []

    @classmethod
    def settings_section(cls) -> str:
        """The ``settings.DSN`` sub-dict this messenger reads (default: ``key.upper()``)."""
        return cls.key.upper()

    # -- addresses -------------------------------------------------------------------

    @property
    def user_fields(self) -> tuple[str, ...] | None:
        """The fields of the user model that :meth:`addresses_for` reads, e.g. ``("email",)``.

        Fan-out loads its receivers with only these and the primary key (``QuerySet.only()``):
        building 100,000 complete users was most of its Python time. ``()`` means only
        ``user.pk`` is read (the address book); ``None`` means not declared, so every field is
        loaded. Declare it as a class attribute (``user_fields = ("phone",)``), or override this
        property when it depends on settings. Without a declaration it is ``()`` for a messenger
        that keeps the default :meth:`addresses_for` (it reads only ``pk``) and ``None`` for one
        that overrides it, the safe choice for a messenger the core knows nothing about.

        A name that is not a concrete field of the user model (a property, a dotted path) makes
        fan-out load every field. Declaring too few is not an error but is slow: each user
        then loads a missing field with a query of its own. A subclass that overrides
        ``addresses_for`` should declare it again.
        """
        return () if type(self).addresses_for is Messenger.addresses_for else None

    def address_for(self, user: AbstractBaseUser) -> str | None:
        """The address to send ``user`` on this channel, or ``None`` to skip them.

        The default looks the user up in the core's address book (active entries only).
        """
        from .addresses import get_address

        return get_address(user, self.key)

    def addresses_for(self, users: Iterable[AbstractBaseUser]) -> dict[Any, str]:
        """Addresses for many users at once: ``{user.pk: address}`` (missing = no address).

        Override when addresses come from user attributes; the default reads the address
        book in one query.
        """
        from .addresses import get_addresses

        return get_addresses([u.pk for u in users], self.key)

    def backend_addresses(self) -> list[str]:
        """Addresses every message of this backend goes to, instead of the receivers' own.

        A Telegram backend whose ``chat_id`` option names an ops group, or X's own timeline.
        When this returns addresses, the core sends each notification once to each of them
        (with no recipient) and does not address the subscription's users on this backend.
        Default: none.
        """
        return []

    @classmethod
    def clean_address(cls, address: str) -> str:
        """Validate and normalise a fixed address typed by an admin; raise ``ValidationError``."""
        address = address.strip()
        if not address:
            raise ValidationError("An address cannot be empty.")
        return address

    # -- rendering -------------------------------------------------------------------

    #: May differ per instance (a Telegram backend in HTML parse mode is ``"html"``).
    text_format: str = "plain"

    def escape(self, value: str) -> str:
        """Escape a value substituted into a template, for this channel's markup."""
        return value

    @property
    def escape_values(self) -> bool:
        """Whether this messenger overrides :meth:`escape` (so rendering must call it)."""
        return type(self).escape is not Messenger.escape

    def rate_limits_for(self, address: str) -> Sequence[RateLimit]:
        """The limits that apply to sending to ``address`` (default: ``rate_limits``)."""
        return self.rate_limits

    def preview_notes(self, message: Message) -> list[str]:
        """Short human-readable notes on how this backend would send ``message``, for the admin's preview.

        The admin calls it with a rendered sample (``message.address`` may be empty) and shows each
        note under the preview, e.g. ``"2 SMS segments (UCS-2 …)"`` or ``"X counts 291 of 280 …"``.
        It must be fast and must not contact the provider or raise. The default has no notes.
        """
        return []

    # -- sending ---------------------------------------------------------------------

    def open(self) -> None:
        """Open a connection that ``send_batch`` reuses (optional)."""

    def close(self) -> None:
        """Close what ``open`` opened (optional). Called even when sending failed."""

    def __enter__(self) -> Messenger:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, message: Message) -> SendResult:
        """Send one message; return a :class:`SendResult` or raise a ``DeliveryError``."""
        raise NotImplementedError(f"{type(self).__name__} must implement send() or send_batch()")

    def send_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Send several messages (over one connection where the channel allows).

        Return exactly one outcome per message, in order: a :class:`SendResult` or a
        :class:`~dsn_core.errors.DeliveryError` instance. An exception escaping this method
        fails the whole batch as transient. The default calls :meth:`send` per message.
        """
        outcomes: list[Outcome] = []
        for message in messages:
            try:
                outcomes.append(self.send(message))
            except DeliveryError as exc:
                outcomes.append(exc)
        return outcomes


def require_address(message: Message) -> str:
    """Return ``message.address`` or raise :class:`PermanentError` if it is empty."""
    if not message.address:
        raise PermanentError("no address")
    return message.address
