"""CloudEvents 1.0 envelope (structured JSON mode), keyed by melding id on every topic."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EVENT_TYPE_PREFIX = "nl.kmt."
MELDING_RECEIVED = "nl.kmt.melding.received"
SHARING_DECIDED = "nl.kmt.sharing.decided"
DISCLOSURE_CREATED = "nl.kmt.disclosure.created"
AUDIT_RECORDED = "nl.kmt.audit.recorded"
DEAD_LETTERED = "nl.kmt.deadletter"

M = TypeVar("M", bound=BaseModel)


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: str = Field(default="1.0", pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @property
    def key(self) -> bytes:
        return (self.subject or self.id).encode()


class MalformedEvent(ValueError):
    """A record that is not a valid event; the reason names what is wrong, never the values."""


def new_event(
    *, type: str, source: str, subject: str, data: BaseModel, id: str | None = None
) -> CloudEvent:
    return CloudEvent(
        id=id or str(uuid.uuid4()),
        source=source,
        type=type,
        subject=subject,
        time=datetime.now(UTC),
        data=data.model_dump(mode="json"),
    )


def derived_id(parent_event_id: str, *parts: str) -> str:
    """A deterministic event id for what a handler emits because of `parent_event_id`.

    Handling the same input twice emits the same ids, so every consumer's dedupe-by-event-id
    makes redelivery harmless all the way down the path.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("kmt", parent_event_id, *parts))))


def describe(error: ValidationError) -> list[dict[str, str]]:
    """The paths at fault and what is wrong, without echoing the (possibly personal) input."""
    return [
        {"path": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
        for e in error.errors(include_input=False, include_url=False)
    ]


def parse_event(raw: bytes | None, expected_types: set[str]) -> CloudEvent:
    if raw is None:
        raise MalformedEvent("leeg bericht (tombstone)")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"geen geldige JSON ({type(exc).__name__})") from None
    try:
        event = CloudEvent.model_validate(body)
    except ValidationError as exc:
        raise MalformedEvent(f"geen CloudEvent: {_summary(exc)}") from None
    if event.type not in expected_types:
        raise MalformedEvent(f"onverwacht eventtype {event.type!r}")
    return event


def parse_data(event: CloudEvent, model: type[M]) -> M:
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        raise MalformedEvent(f"ongeldige data voor {event.type}: {_summary(exc)}") from None


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{d['path']}: {d['message']}" for d in describe(exc))
