"""Small helpers for the admin browser tests: autocomplete fields, and counting what a person does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Effort:
    """What a person did in the browser: page loads, fields typed into, clicks and choices."""

    page: Any
    loads: int = 0
    typed: list[str] = field(default_factory=list)
    clicks: int = 0

    def __post_init__(self) -> None:
        self.page.on("load", lambda _page: self._loaded())

    def _loaded(self) -> None:
        self.loads += 1

    def goto(self, url: str) -> None:
        self.page.goto(url)

    def fill(self, selector: str, text: str) -> None:
        self.typed.append(text)
        self.page.fill(selector, text)

    def click(self, selector: str) -> None:
        self.clicks += 1
        self.page.click(selector)

    def choose(self, selector: str, **kwargs: Any) -> None:
        self.clicks += 1
        self.page.select_option(selector, **kwargs)

    def check(self, selector: str) -> None:
        self.clicks += 1
        self.page.check(selector)

    def autocomplete(self, field_id: str, search: str, pick: str | None = None) -> None:
        """Open the admin's autocomplete for ``field_id``, type ``search``, pick the match."""
        self.clicks += 2
        self.typed.append(search)
        self.page.click(f"#{field_id} + .select2 .select2-selection")
        self.page.keyboard.type(search)
        self.page.click(f".select2-results__option:has-text('{pick or search}')")
