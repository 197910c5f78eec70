"""What the admin pages share: who may open them, and forms that keep what was typed and say
next to each field what was refused."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from topline import access
from topline.auth.enums import Role
from topline.auth.models import User
from topline.errors import Conflict, ToplineError
from topline.types import MAX_ID
from topline.web.templating import templates

PAGE_SIZE = 50


class StaleForm(Conflict):
    """The record changed since the form was opened: saving would overwrite someone's change."""

    code = "stale_form"


@dataclass
class AdminForm:
    """What the viewer typed into a form (text, as typed), the message for each refused field,
    and a message for the form as a whole."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    status_code: int = 422

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.problem)

    def refuse(
        self, error: ToplineError, fields: Collection[str], aliases: dict[str, str] | None = None
    ) -> None:
        """Show a service's refusal next to the field it names (`aliases` maps the API's field
        names to the form's), else above the form."""
        name = error.details.get("field")
        message = sentence(error.message, name)
        self.status_code = error.status_code
        if isinstance(name, str) and aliases and name in aliases:
            name = aliases[name]
        if isinstance(name, str) and name in fields:
            self.errors[name] = message
        else:
            self.problem = message

    def invalid(self, error: ValidationError, messages: dict[str, str]) -> None:
        """Show a schema's refusals next to their fields (`messages` words them per field)."""
        for problem in error.errors():
            loc = ".".join(str(part) for part in problem["loc"])
            if loc not in self.errors:
                self.errors[loc] = messages.get(loc) or sentence(problem["msg"], None)


def sentence(message: str, field_name: object) -> str:
    """A service message as a sentence under its field: without the `field: ` prefix the API
    puts in front, capitalised, ending with a full stop."""
    if isinstance(field_name, str) and message.startswith(f"{field_name}: "):
        message = message[len(field_name) + 2 :]
    message = message.strip()
    if not message:
        return "This value is refused."
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else f"{message}."


def require_staff(viewer: User) -> None:
    """Admin pages are for admins and managers; reps are refused (403)."""
    access.require_role(viewer, Role.ADMIN, Role.MANAGER)


def parse_id(form: AdminForm, name: str, *, required: bool = False) -> int | None:
    """The id a form's select sent (None for "none"); a forged value is refused."""
    text = form.values.get(name, "").strip()
    if not text:
        if required:
            form.errors[name] = "Pick one from the list."
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        form.errors[name] = "Pick one from the list."
        return None
    return int(text)


def parse_cents(form: AdminForm, name: str) -> int | None:
    """An amount typed in dollars (commas and a leading $ allowed), in cents."""
    text = form.values.get(name, "").strip().replace(",", "").removeprefix("$")
    try:
        dollars = Decimal(text)
    except InvalidOperation:
        form.errors[name] = "Enter an amount in dollars, such as 250000."
        return None
    if not dollars.is_finite() or dollars < 0 or dollars >= Decimal(10) ** 13:
        form.errors[name] = "Enter an amount of zero or more dollars."
        return None
    return int((dollars * 100).to_integral_value())


def form_version(form: AdminForm) -> int:
    """The record `version` the form was opened on; a form without a readable one was never
    made on the current state (0 is no record's version)."""
    text = form.values.get("version", "").strip()
    return int(text) if text.isdigit() and len(text) <= 9 else 0


def stale_form(noun: str) -> StaleForm:
    """The refusal of an edit made on a form older than the record's current state."""
    return StaleForm(
        f"someone changed this {noun} since you opened the form; the form keeps what you "
        "typed, and saving again replaces their change",
        details={"field": "version"},
    )


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """An admin page."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)
