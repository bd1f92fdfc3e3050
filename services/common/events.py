"""CloudEvents 1.0 envelope (structured JSON mode), keyed by melding id on every topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core.core_schema import ErrorType

from services.observability.tracing import current_traceparent

EVENT_TYPE_PREFIX = "nl.kmt."
MELDING_RECEIVED = "nl.kmt.melding.received"
SHARING_DECIDED = "nl.kmt.sharing.decided"
DISCLOSURE_CREATED = "nl.kmt.disclosure.created"
DISCLOSURE_RELEASED = "nl.kmt.disclosure.released"
DISCLOSURE_REVIEWED = "nl.kmt.disclosure.reviewed"
DISCLOSURE_ACKNOWLEDGED = "nl.kmt.disclosure.acknowledged"
POLICY_ACTIVATED = "nl.kmt.policy.activated"
POLICY_SWITCHED = "nl.kmt.policy.switched"
STAFF_ACCESSED = "nl.kmt.staff.accessed"
ALERT_RAISED = "nl.kmt.alert.raised"
MELDING_STATUS = "nl.kmt.melding.status"
AUDIT_RECORDED = "nl.kmt.audit.recorded"
DEAD_LETTERED = "nl.kmt.deadletter"

M = TypeVar("M", bound=BaseModel)
TRACEPARENT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
"""A W3C `traceparent` (version 00)."""


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
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT)
    """CloudEvents' distributed-tracing extension: the W3C trace context of the step that
    emitted the event, so one melding is one trace from the partner to the recipient. Inside
    the value, so it is signed and kept in the outboxes with the event."""

    def to_bytes(self) -> bytes:
        # an event without trace context keeps the bytes it had before the extension existed
        return self.model_dump_json(exclude=None if self.traceparent else {"traceparent"}).encode()

    @property
    def key(self) -> bytes:
        return (self.subject or self.id).encode()


class MalformedEvent(ValueError):
    """A record that is not a valid event; the reason names what is wrong, never the values."""


class Outage(Exception):
    """A dependency is down (the policy engine unreachable): not the record's fault, so a
    consumer waits for it without limit instead of setting the record aside."""


def new_event(
    *,
    type: str,
    source: str,
    subject: str,
    data: BaseModel,
    id: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """An event stamped with `traceparent`, or else with the trace context of the step now
    running (`services.observability.tracing`)."""
    return CloudEvent(
        id=id or str(uuid.uuid4()),
        source=source,
        type=type,
        subject=subject,
        time=datetime.now(UTC),
        data=data.model_dump(mode="json"),
        traceparent=traceparent or current_traceparent(),
    )


def derived_id(parent_event_id: str, *parts: str) -> str:
    """A deterministic event id for what a handler emits because of `parent_event_id`.

    Handling the same input twice emits the same ids, so every consumer's dedupe-by-event-id
    makes redelivery harmless all the way down the path.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("kmt", parent_event_id, *parts))))


# Dutch wording for pydantic's validation errors; one it has not been given reads
# `ONGELDIG`, never pydantic's English. Errors the contracts raise themselves are Dutch already.
ONGELDIG = "ongeldige waarde"
_PYDANTIC_ERRORS = frozenset(get_args(ErrorType))
_DUTCH = {
    "missing": "verplicht veld ontbreekt",
    "extra_forbidden": "onbekend veld; dit veld bestaat niet in melding.v1",
    "literal_error": "ongeldige waarde",
    "bool_type": "moet true of false zijn",
    "bool_parsing": "moet true of false zijn",
    "string_type": "moet tekst zijn",
    "list_type": "moet een lijst zijn",
    "dict_type": "moet een object zijn",
    "model_type": "moet een object zijn",
    "date_from_datetime_parsing": "moet een datum zijn (JJJJ-MM-DD)",
    "date_parsing": "moet een datum zijn (JJJJ-MM-DD)",
    "date_type": "moet een datum zijn (JJJJ-MM-DD)",
    "string_too_long": "tekst te lang",
    "string_pattern_mismatch": "ongeldig formaat",
    "too_short": "te weinig elementen",
    "too_long": "te veel elementen",
    "int_parsing": "moet een geheel getal zijn",
    "greater_than_equal": "te klein",
    "less_than_equal": "te groot",
    "json_invalid": "geen geldige JSON",
    "json_type": "geen geldige JSON",
    "string_too_short": "tekst te kort",
    "int_type": "moet een geheel getal zijn",
    "int_from_float": "moet een geheel getal zijn",
    "float_type": "moet een getal zijn",
    "float_parsing": "moet een getal zijn",
    "uuid_type": "moet een UUID zijn",
    "uuid_parsing": "moet een UUID zijn",
    "datetime_type": "moet een tijdstip zijn, bijvoorbeeld 2026-01-01T00:00:00Z",
    "datetime_parsing": "moet een tijdstip zijn, bijvoorbeeld 2026-01-01T00:00:00Z",
    "datetime_from_date_parsing": "moet een tijdstip zijn, bijvoorbeeld 2026-01-01T00:00:00Z",
    "date_from_datetime_inexact": "moet een datum zijn (JJJJ-MM-DD)",
    "model_attributes_type": "moet een object zijn",
    "enum": ONGELDIG,
}


def describe(error: ValidationError) -> list[dict[str, str]]:
    """The paths at fault and what is wrong, without echoing the (possibly personal) input."""
    return describe_errors(error.errors(include_input=False, include_url=False))


def describe_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """`describe` for pydantic's error dicts (also FastAPI's request validation errors)."""
    described = []
    for e in errors:
        message = _DUTCH.get(e["type"], ONGELDIG if e["type"] in _PYDANTIC_ERRORS else e["msg"])
        if e["type"] == "literal_error":
            expected = str(e.get("ctx", {}).get("expected", "")).replace(" or ", " of ")
            message = f"{message}; toegestaan: {expected}"
        elif e["type"] == "greater_than_equal":
            message = f"moet minstens {e['ctx']['ge']} zijn"
        elif e["type"] == "less_than_equal":
            message = f"mag hoogstens {e['ctx']['le']} zijn"
        elif e["type"] == "value_error":
            message = e["msg"].removeprefix("Value error, ")
        path = ".".join(str(p) for p in e["loc"]) or "(body)"
        described.append({"path": path, "message": message})
    return described


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
