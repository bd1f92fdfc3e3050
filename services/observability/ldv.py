"""The processing log after Logius' Logboek Dataverwerkingen (LDV), derived from the ledger.

The ledger stays the tamper-evident record; LDV records are derived from it and can be
derived again (`kmt audit ldv-export`). Per processing step (a ledger entry about a melding)
there is one record of the step and, under it (`parent_span_id`), one per data subject: the
victim and each suspect, as LDV wants one subject per line. Each record cites the step's
activity in the register (`dpl.core.processing_activity_id`, a versioned URI) and names its
subject by a keyed pseudonym (`dpl.core.data_subject_id`, the ledger's, never an identity)
with its kind (`dpl.core.data_subject_id_type`). Trace ids are the melding's trace, which
the partner's `traceparent` began; what the partner sent is the first step's
`foreign_operation`. Span ids are derived from the entry (and subject), so the same ledger
always gives the same records. Steps about no data subject (policy changes, staff reads)
have no activity in the register and give no record; an answered inzageverzoek gives one,
about the person who asked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from services.audit.entry import Entry
from services.observability.register import DISCLOSURE_STEPS, Register

SUBJECT_ID_TYPES = {
    "victim": "urn:nl:kmt-twente:betrokkene:slachtoffer:pseudoniem",
    "suspects": "urn:nl:kmt-twente:betrokkene:verdachte:pseudoniem",
}
UNKNOWN_ROLE = "urn:nl:kmt-twente:betrokkene:pseudoniem"
"""A subject whose role the ledger does not say: who asked for inzage (as victim and as
suspect alike), or a melding's recorded before it kept whom each pseudonym stands for."""
PARTNER_URI = "urn:nl:kmt-twente:partner:"
STATUS_CODES = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")
REQUIRED = ("trace_id", "span_id", "status_code", "name", "start_time", "end_time", "attributes")
"""The fields the LDV specification makes mandatory for every log record."""
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _hex(*parts: str, length: int) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def trace_of(entry: Entry) -> tuple[str, dict[str, str] | None]:
    """The entry's trace id, and the partner's operation when the entry kept one."""
    kept = entry.trace_id or ""
    if _HEX32.match(kept):
        return kept, None
    parts = kept.split("-")
    if len(parts) == 4 and _HEX32.match(parts[1]) and _HEX16.match(parts[2]):
        partner = (entry.actor or "").rpartition("/")[2]
        return parts[1], {
            "trace_id": parts[1],
            "span_id": parts[2],
            "entity": PARTNER_URI + partner,
        }
    # recorded before traces: one trace per melding all the same
    return _hex("kmt-trace", entry.melding_id or entry.event_id, length=32), None


def subjects_of(melding: Entry) -> list[tuple[str, str, str]]:
    """(path, pseudonym, id type) per data subject of a melding's entry: the first pseudonym
    recorded for each of `victim`, `suspects[0]`, …"""
    paths = melding.fields if len(melding.fields) == len(melding.subject_pseudonyms) else ()
    if not paths:
        return [(p, p, UNKNOWN_ROLE) for p in melding.subject_pseudonyms]
    found: dict[str, str] = {}
    for path, pseudonym in zip(paths, melding.subject_pseudonyms, strict=True):
        found.setdefault(path, pseudonym)
    return [(path, p, SUBJECT_ID_TYPES[path.split("[")[0]]) for path, p in found.items()]


def carried(subject_path: str, fields: Sequence[str]) -> bool:
    """Whether a disclosure with these fields carried data of the subject at that path."""
    role = subject_path.split("[")[0]
    return any(f == role or f.startswith((f"{role}.", f"{role}[")) for f in fields)


def _millis(recorded_at: str) -> int:
    return int(datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).timestamp() * 1000)


def records(
    entries: Iterable[Entry], trail: dict[str, list[Entry]], register: Register
) -> Iterator[dict[str, Any]]:
    """The LDV records of `entries`; `trail` holds every entry of their meldingen (where the
    melding's subjects and a disclosure's fields are)."""
    for entry in entries:
        activity = register.activity_of(entry.type, entry.recipient, entry.event_type)
        if activity is None:
            continue
        if entry.melding_id is None:  # an inzageverzoek: the one person who asked
            first = entry.subject_pseudonyms[:1]
            subjects = [("verzoeker", p, UNKNOWN_ROLE) for p in first]
            steps = []
        else:
            steps = trail.get(entry.melding_id, [])
            melding = next((e for e in steps if e.type == "melding"), None)
            subjects = subjects_of(melding) if melding else []
        if entry.type in DISCLOSURE_STEPS:
            disclosure = next(
                (
                    e
                    for e in steps
                    if e.type == "disclosure" and e.disclosure_id == entry.disclosure_id
                ),
                None,
            )
            fields = disclosure.fields if disclosure else ()
            subjects = [s for s in subjects if carried(s[0], fields)]
        trace_id, foreign = trace_of(entry)
        step_span = _hex("kmt-step", entry.event_id, length=16)
        at = _millis(entry.recorded_at)
        name = f"{entry.type} {entry.recipient}" if entry.recipient else entry.type
        step: dict[str, Any] = {
            "trace_id": trace_id,
            "span_id": step_span,
            "name": name,
            "start_time": at,
            "end_time": at,
            "status_code": "STATUS_CODE_OK",
            "resource": {"attributes": {"service.name": "kmt-audit"}},
            "attributes": {
                "dpl.core.processing_activity_id": activity.uri,
                "kmt.ledger.seq": entry.seq,
            },
        }
        if foreign:
            step["foreign_operation"] = foreign
        yield step
        for _, pseudonym, id_type in subjects:
            yield {
                **step,
                "span_id": _hex("kmt-subject", entry.event_id, pseudonym, length=16),
                "parent_span_id": step_span,
                "attributes": {
                    **step["attributes"],
                    "dpl.core.data_subject_id": pseudonym,
                    "dpl.core.data_subject_id_type": id_type,
                },
            }


def problems(record: dict[str, Any]) -> list[str]:
    """What makes `record` fall short of the LDV specification's mandatory fields."""
    found = [f"{name} ontbreekt" for name in REQUIRED if name not in record]
    if not _HEX32.match(str(record.get("trace_id", ""))):
        found.append("trace_id is geen 16 bytes hex")
    for name in ("span_id", "parent_span_id"):
        if name in record and not _HEX16.match(str(record[name])):
            found.append(f"{name} is geen 8 bytes hex")
    if record.get("status_code") not in STATUS_CODES:
        found.append("status_code onbekend")
    if not all(isinstance(record.get(t), int) for t in ("start_time", "end_time")):
        found.append("start_time/end_time geen tijdstip in ms")
    attributes = record.get("attributes", {})
    if not str(attributes.get("dpl.core.processing_activity_id", "")).startswith("urn:"):
        found.append("dpl.core.processing_activity_id is geen URI")
    if ("dpl.core.data_subject_id" in attributes) != (
        "dpl.core.data_subject_id_type" in attributes
    ):
        found.append("data_subject_id zonder data_subject_id_type (of andersom)")
    foreign = record.get("foreign_operation")
    if foreign is not None and set(foreign) != {"trace_id", "span_id", "entity"}:
        found.append("foreign_operation mist trace_id, span_id of entity")
    return found
