"""Helpers for web tests: query-count guards, reading forms and tables out of pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import cast

from fastapi.testclient import TestClient
from httpx2 import Response

from tests.helpers import QueryLog, assert_max_queries

__all__ = ["QueryLog", "assert_max_queries", "csrf_from", "login", "table_rows"]

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token a page rendered into its forms."""
    match = _CSRF_INPUT.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(
    client: TestClient, email: str, password: str, *, next_path: str | None = None
) -> Response:
    """Sign in through the form, as a browser would (fetch the form, then post it)."""
    page = client.get("/login")
    data = {"csrf_token": csrf_from(page.text), "email": email, "password": password}
    if next_path is not None:
        data["next"] = next_path
    # The test client's httpx import is untyped in this Starlette version.
    return cast(Response, client.post("/login", data=data, follow_redirects=False))


class _TableParser(HTMLParser):
    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in {"td", "th"} and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The text of every cell of the table with `table_id`, row by row (header included)."""
    parser = _TableParser(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id} on the page"
    return parser.rows
