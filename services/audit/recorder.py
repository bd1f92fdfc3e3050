"""From an event on the path to the ledger entry that records it, and its receipt.

What is recorded is what a privacy officer needs to know who received what and why: ids,
recipient, purpose, legal basis, data-category paths (for a disclosure: the categories that
were sealed, not those the decision allowed), obligations, the decision's reasons (rule and
Dutch text), policy revision, ciphertext hash. The melding itself is only opened (with
audit's own reader key) to compute the pseudonyms of its victim and suspects, and what it
adds to the year's anonymous counters (`services.audit.counts`); none of its values reach
the ledger.
"""

from __future__ import annotations

from dataclasses import replace

from services.audit.cases import CaseFacts
from services.audit.counts import Counted
from services.audit.entry import REASON_SEPARATOR, Draft, EntryType
from services.audit.ledger import Appended
from services.audit.pseudonym import pseudonyms
from services.common.alert_event import AlertRaised
from services.common.events import (
    ALERT_RAISED,
    AUDIT_RECORDED,
    DISCLOSURE_ACKNOWLEDGED,
    DISCLOSURE_CREATED,
    DISCLOSURE_RELEASED,
    DISCLOSURE_REVIEWED,
    MELDING_RECEIVED,
    POLICY_ACTIVATED,
    SHARING_DECIDED,
    STAFF_ACCESSED,
    CloudEvent,
    derived_id,
    new_event,
    parse_data,
)
from services.common.facts import MeldingReceived
from services.common.models import (
    AuditRecorded,
    DisclosureCreated,
    DisclosureLifecycle,
    Melding,
    Reason,
    SharingDecided,
    StaffAccessed,
)
from services.common.policy_events import PolicyActivated
from services.keyring.vault import MeldingErased, Opener
from services.observability.tracing import trace_id_of

SOURCE = "kmt/audit"
LIFECYCLE_ENTRY_TYPES: dict[str, EntryType] = {
    DISCLOSURE_RELEASED: "release",
    DISCLOSURE_REVIEWED: "review",
    DISCLOSURE_ACKNOWLEDGED: "ack",
}
RECORDED_TYPES = {
    MELDING_RECEIVED, SHARING_DECIDED, DISCLOSURE_CREATED, POLICY_ACTIVATED, STAFF_ACCESSED,
    ALERT_RAISED, *LIFECYCLE_ENTRY_TYPES,
}  # fmt: skip


def opened(received: MeldingReceived, opener: Opener) -> Melding | None:
    """The melding, opened with audit's own reader key; None when it was erased before audit
    got to it."""
    try:
        return opener.melding(str(received.melding_id), received.sealed)
    except MeldingErased:
        return None


def subjects(melding: Melding | None, subject_key: bytes) -> tuple[tuple[str, str], ...]:
    """The keyed pseudonyms of every data subject of the melding, the victim and each
    suspect, each with the path of the subject it stands for (`victim`, `suspects[0]`, …);
    none when it was erased before audit got to it. A pseudonym two subjects share (one
    person named twice) is kept once, for the first."""
    if melding is None:
        return ()
    victim = melding.victim
    found = [
        (p, "victim")
        for p in pseudonyms(
            subject_key, bsn=victim.bsn, name=victim.name, birth_date=victim.birth_date
        )
    ]
    for number, suspect in enumerate(melding.suspects):
        found += [
            (p, f"suspects[{number}]")
            for p in pseudonyms(
                subject_key,
                bsn=None,
                name=suspect.name,
                birth_date=suspect.birth_date,
                role="verdachte",
            )
        ]
    kept: dict[str, str] = {}
    for pseudonym, path in found:
        kept.setdefault(pseudonym, path)
    return tuple(kept.items())


def reason_line(reason: Reason) -> str:
    """How the ledger keeps a decision's reason: the rule, then its Dutch text.

    The texts are the policies' fixed sentences, filled in with categories only (recipient,
    municipality, kinds of signal, field paths), never a melding's values."""
    return f"{reason.rule}{REASON_SEPARATOR}{reason.text}"


def drafts_of(event: CloudEvent, subject_key: bytes, opener: Opener) -> list[Draft]:
    """The entries for `event`: one, or for a staff read one per melding shown."""
    if event.type == STAFF_ACCESSED:
        drafts = staff_access_drafts(event)
    else:
        drafts = [draft_of(event, subject_key, opener)]
    return [in_trace(draft, event) for draft in drafts]


def in_trace(draft: Draft, event: CloudEvent) -> Draft:
    """The entry under the trace id of the event's `traceparent`: every entry of one melding
    carries the trace it was processed in, from the partner's request to the recipient's
    fetch. An event without one (published before traces existed) keeps the id it had."""
    trace_id = trace_id_of(event.traceparent)
    if trace_id is None or draft.type == "melding":  # a melding's entry: see draft_of
        return draft
    return replace(draft, trace_id=trace_id)


def staff_access_drafts(event: CloudEvent) -> list[Draft]:
    """A staff read in another service as `audit_access` entries, like audit's own reads:
    one per melding shown, so each melding's trail (and whatever counts per melding) has
    the read; all share one `trace_id`, the read's trace (its event id before traces). A
    read that showed nothing is one entry without a melding."""
    read = parse_data(event, StaffAccessed)
    shown: list[str | None] = [str(m) for m in dict.fromkeys(read.melding_ids)] or [None]
    return [
        Draft(
            type="audit_access",
            event_id=event.id if melding_id is None else derived_id(event.id, melding_id),
            event_type=read.read,
            actor=read.actor,
            melding_id=melding_id,
            trace_id=event.id,
        )
        for melding_id in shown
    ]


def draft_of(event: CloudEvent, subject_key: bytes, opener: Opener) -> Draft:
    """The one entry for `event` (not a staff read: see `drafts_of`); `MalformedEvent` when
    its data does not fit its type."""
    if event.type == MELDING_RECEIVED:
        return melding_record(event, subject_key, opener)[0]
    if event.type == SHARING_DECIDED:
        decision = parse_data(event, SharingDecided)
        return Draft(
            type="decision",
            event_id=event.id,
            event_type=event.type,
            actor=event.source,
            melding_id=str(decision.melding_id),
            recipient=decision.recipient,
            municipality=decision.municipality,
            allow=decision.allow,
            purpose=decision.purpose,
            legal_basis=tuple(decision.legal_basis),
            fields=tuple(decision.fields),
            obligations=tuple(decision.obligations),
            reasons=tuple(reason_line(r) for r in decision.reasons),
            policy_revision=decision.policy_revision,
            trace_id=event.id,
        )
    if event.type in LIFECYCLE_ENTRY_TYPES:
        step = parse_data(event, DisclosureLifecycle)
        return Draft(
            type=LIFECYCLE_ENTRY_TYPES[event.type],
            event_id=event.id,
            event_type=event.type,
            actor=step.actor,
            melding_id=str(step.melding_id),
            recipient=step.recipient,
            allow=step.action != "rejected",
            disclosure_id=str(step.disclosure_id),
            ciphertext_sha256=step.reason_sha256,  # a review: its sealed reason's hash
            trace_id=str(step.disclosure_id),
        )
    if event.type == ALERT_RAISED:
        return alert_draft(event)
    if event.type == POLICY_ACTIVATED:
        policy = parse_data(event, PolicyActivated)
        return Draft(
            type="policy_change",
            event_id=event.id,
            event_type=event.type,
            actor=event.source,
            policy_revision=policy.policy_revision,
            trace_id=event.id,
        )
    disclosure = parse_data(event, DisclosureCreated)
    return Draft(
        type="disclosure",
        event_id=event.id,
        event_type=event.type,
        actor=event.source,
        melding_id=str(disclosure.melding_id),
        recipient=disclosure.recipient,
        municipality=disclosure.municipality,
        allow=True,
        purpose=disclosure.purpose,
        legal_basis=tuple(disclosure.legal_basis),
        fields=tuple(disclosure.fields),
        obligations=tuple(disclosure.obligations),
        policy_revision=disclosure.policy_revision,
        disclosure_id=str(disclosure.disclosure_id),
        ciphertext_sha256=disclosure.ciphertext_sha256,
        trace_id=disclosure.decision_event_id,
    )


def melding_record(
    event: CloudEvent, subject_key: bytes, opener: Opener
) -> tuple[Draft, CaseFacts, Counted]:
    """For a `melding.received`, from one opening of the melding: its entry, its row of the
    case index (`services.audit.cases`) and what it adds to the counters of the Cijfers."""
    received = parse_data(event, MeldingReceived)
    melding = opened(received, opener)
    found = subjects(melding, subject_key)
    draft = Draft(
        type="melding",
        event_id=event.id,
        event_type=event.type,
        actor=event.source,
        melding_id=str(received.melding_id),
        fields=tuple(path for _, path in found),  # whom each pseudonym stands for
        subject_pseudonyms=tuple(pseudonym for pseudonym, _ in found),
        # what the partner sent, kept as LDV's foreign_operation; else the trace's id
        trace_id=received.foreign_operation or trace_id_of(event.traceparent) or event.id,
    )
    return draft, CaseFacts.of(received), Counted.of(received, melding)


def alert_draft(event: CloudEvent) -> Draft:
    """An `alert` entry: the policy's alert sentences as reasons (`alert: …`), and what
    on-call is told besides, as categories (`minderjarig`, `veilig_thuis`)."""
    alert = parse_data(event, AlertRaised)
    minor = {True: "ja", False: "nee", None: "onbekend"}[alert.minor]
    return Draft(
        type="alert",
        event_id=event.id,
        event_type=event.type,
        actor=event.source,
        melding_id=str(alert.melding_id),
        municipality=alert.municipality,
        reasons=(
            *(f"alert{REASON_SEPARATOR}{text}" for text in alert.alerts),
            f"minderjarig{REASON_SEPARATOR}{minor}",
            f"veilig_thuis{REASON_SEPARATOR}{alert.veilig_thuis}",
        ),
        policy_revision=alert.policy_revision,
        trace_id=event.id,
    )


def receipt_of(event: CloudEvent, draft: Draft, appended: Appended) -> CloudEvent:
    """The `audit.recorded` receipt of one entry; the same input always gives the same
    receipt id."""
    return new_event(
        id=derived_id(draft.event_id, "receipt"),
        traceparent=event.traceparent,  # the release it leads to stays in the melding's trace
        type=AUDIT_RECORDED,
        source=SOURCE,
        subject=draft.melding_id or event.subject or event.id,
        data=AuditRecorded(
            event_id=event.id,
            event_type=event.type,
            melding_id=draft.melding_id,  # pydantic parses the UUID
            disclosure_id=draft.disclosure_id,
            seq=appended.seq,
            entry_hash=appended.entry_hash,
            ciphertext_sha256=draft.ciphertext_sha256,
        ),
    )
