"""What the access report (AVG art. 15) says: which data categories went to whom, when, for
which purpose, on which legal basis and for how long, about a victim or a suspect.

Built from the ledger only: the disclosures that were released (one held for review and
rejected, or not yet released, was not provided), with the categories they actually carried;
and when KMT staff consulted what was to be disclosed about the subject (their `audit_access`
entries of a read outside the trail itself: the review queue), when and why, never who (the
officer sees who in the trail).
What the privacy officer must check before sending it (an article not yet confirmed, informing
deferred, no contact details) goes into `officer_notes`, never into the text for the person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.audit.entry import Draft, Entry
from services.audit.ledger import Ledger, Query
from services.audit.pseudonym import ROLES, Role
from services.audit.report import wording
from services.audit.report.query import Pseudonyms, every_pseudonym
from services.common.durations import in_dutch
from services.common.dutch_dates import dutch_today
from services.common.settings import Settings

ACCESS_REPORT = "audit.access_report"
DEFERRED = "notify:deferred"
RETENTION = "retention:"
PAGE = 1000
CONSULTATIONS = {
    "sharing.reviews": "beoordelen of gegevens over u aan een partner verstrekt mochten worden",
    "sharing.review": "beoordelen of gegevens over u aan een partner verstrekt mochten worden",
    "audit.case_links": "nagaan of KMT al eerder meldingen over u ontving",
}
"""The staff reads the subject is told of, with their purpose in Dutch. Recorded one entry
per melding shown; one read that showed several of the subject's meldingen is one moment.
The privacy officer's own reads of the trail are supervision of the processing, not of the
subject's data, and are not listed."""
OTHERS: dict[Role, tuple[str, ...]] = {
    "slachtoffer": ("suspects",),
    "verdachte": ("victim",),
}
"""Per role, the categories about other people than the subject: not theirs to be told about
(unless the subject is in the melding in the other role too)."""


@dataclass(frozen=True)
class Controller:
    """Who answers for the processing, how to reach them, and how long they keep a melding
    (KMT_CONTROLLER_NAME, KMT_CONTROLLER_CONTACT, KMT_MELDING_RETENTION_DAYS)."""

    name: str
    contact: str
    retention_days: int

    @classmethod
    def of(cls, settings: Settings) -> Controller:
        return cls(
            settings.controller_name,
            settings.controller_contact,
            settings.melding_retention_days,
        )


@dataclass(frozen=True)
class Provided:
    """One released disclosure, as it concerns the subject."""

    moment: datetime
    """When it was released, in Dutch local time."""
    recipient: str
    recipient_name: str
    municipality: str | None
    categories: tuple[str, ...]
    purpose: str
    legal_basis: tuple[str, ...]
    retention: str | None
    roles: tuple[Role, ...]
    melding_id: str
    seq: int


@dataclass(frozen=True)
class Consulted:
    """One staff read that showed something about the subject."""

    moment: datetime
    """When audit recorded it, in Dutch local time: moments after the read, or later when
    the broker was out (the read was committed in sharing before it was answered)."""
    purpose: str


@dataclass(frozen=True)
class AccessReport:
    reference: str
    """The registration number of this request: the event id of its `audit_access` entry."""
    kenmerk: str | None
    day: date
    controller: Controller
    kmt_retention: str
    meldingen: int
    roles: tuple[Role, ...]
    provided: tuple[Provided, ...]
    consulted: tuple[Consulted, ...]
    officer_notes: tuple[tuple[str, str], ...]
    """(code, Dutch text) for the privacy officer; never shown to the data subject."""

    @property
    def purposes(self) -> list[str]:
        return list(dict.fromkeys(p.purpose for p in self.provided if p.purpose))

    @property
    def recipients(self) -> list[str]:
        return list(dict.fromkeys(p.recipient_name for p in self.provided))

    def as_json(self) -> dict[str, Any]:
        return {
            "kenmerk": self.kenmerk,
            "registratienummer": self.reference,
            "datum": self.day.isoformat(),
            "verwerkingsverantwoordelijke": {
                "naam": self.controller.name,
                "contact": self.controller.contact,
            },
            "meldingen": self.meldingen,
            "rollen": list(self.roles),
            "verstrekkingen": [
                {
                    "released_at": p.moment.isoformat(),
                    "recipient": p.recipient,
                    "recipient_name": p.recipient_name,
                    "municipality": p.municipality,
                    "categories": list(p.categories),
                    "category_names": [wording.category(c) for c in p.categories],
                    "purpose": p.purpose,
                    "legal_basis": list(p.legal_basis),
                    "retention": p.retention,
                    "roles": list(p.roles),
                    "melding_id": p.melding_id,
                    "seq": p.seq,
                }
                for p in self.provided
            ],
            "inzages": [
                {"moment": c.moment.isoformat(), "doel": c.purpose} for c in self.consulted
            ],
            "aandachtspunten": [{"code": c, "tekst": t} for c, t in self.officer_notes],
        }


def access_draft(actor: str, found: Pseudonyms) -> Draft:
    """The `audit_access` entry that records this request (no record, no report)."""
    return Draft(
        type="audit_access",
        event_id=str(uuid.uuid4()),
        event_type=ACCESS_REPORT,
        actor=actor,
        subject_pseudonyms=every_pseudonym(found),
    )


def access_report(
    ledger: Ledger,
    found: Pseudonyms,
    *,
    reference: str,
    kenmerk: str | None,
    controller: Controller,
) -> AccessReport:
    roles_of: dict[str, set[Role]] = {}
    for role in ROLES:
        for melding_id in ledger.melding_ids_of(found[role]):
            roles_of.setdefault(melding_id, set()).add(role)
    disclosures, released, consulted = _released(ledger, sorted(roles_of))
    provided = sorted(
        (
            _provided(entry, released[d], roles_of[entry.melding_id or ""])
            for d, entry in disclosures.items()
            if d in released
        ),
        key=lambda p: (p.moment, p.seq),
    )
    return AccessReport(
        reference=reference,
        kenmerk=kenmerk,
        day=dutch_today(),
        controller=controller,
        kmt_retention=wording.days_in_words(controller.retention_days),
        meldingen=len(roles_of),
        roles=tuple(r for r in ROLES if any(r in roles for roles in roles_of.values())),
        provided=tuple(provided),
        consulted=tuple(sorted(consulted.values(), key=lambda c: c.moment)),
        officer_notes=_officer_notes(controller, [disclosures[d] for d in released]),
    )


def _released(
    ledger: Ledger, melding_ids: list[str]
) -> tuple[dict[str, Entry], dict[str, str], dict[str, Consulted]]:
    """The meldingen's disclosure entries by id, when each released one was released, and
    the staff reads that showed any of them (by read: its `trace_id`)."""
    disclosures: dict[str, Entry] = {}
    released: dict[str, str] = {}
    consulted: dict[str, Consulted] = {}
    after = -1
    while melding_ids:
        page = ledger.search(Query(melding_ids=melding_ids, after=after, limit=PAGE))
        for entry in page:
            if entry.type == "disclosure" and entry.disclosure_id:
                disclosures[entry.disclosure_id] = entry
            elif entry.type == "release" and entry.disclosure_id:
                released.setdefault(entry.disclosure_id, entry.recorded_at)
            elif entry.type == "audit_access" and entry.event_type in CONSULTATIONS:
                consulted.setdefault(
                    entry.trace_id or entry.event_id,
                    Consulted(
                        wording.dutch_moment(entry.recorded_at), CONSULTATIONS[entry.event_type]
                    ),
                )
        if len(page) < PAGE:
            break
        after = page[-1].seq
    shown = {d: at for d, at in released.items() if d in disclosures}
    return disclosures, shown, consulted


def _provided(entry: Entry, released_at: str, roles: set[Role]) -> Provided:
    others = set.intersection(*(set(OTHERS[role]) for role in roles))
    mine = tuple(
        path
        for path in entry.fields
        if not any(path == o or path.startswith(f"{o}.") for o in others)
    )
    return Provided(
        moment=wording.dutch_moment(released_at),
        recipient=entry.recipient or "",
        recipient_name=wording.recipient(entry.recipient, entry.municipality),
        municipality=entry.municipality,
        categories=mine,
        purpose=entry.purpose or "",
        legal_basis=tuple(wording.legal_basis(b)[0] for b in entry.legal_basis),
        retention=_retention(entry.obligations),
        roles=tuple(r for r in ROLES if r in roles),
        melding_id=entry.melding_id or "",
        seq=entry.seq,
    )


def _retention(obligations: tuple[str, ...]) -> str | None:
    for obligation in obligations:
        if obligation.startswith(RETENTION):
            try:
                return in_dutch(obligation.removeprefix(RETENTION))
            except ValueError:
                return None
    return None


def _officer_notes(controller: Controller, released: list[Entry]) -> tuple[tuple[str, str], ...]:
    notes: list[tuple[str, str]] = []
    unconfirmed = dict.fromkeys(
        clean
        for entry in released
        for clean, marked in map(wording.legal_basis, entry.legal_basis)
        if marked
    )
    notes += [
        (
            "grondslag-onbevestigd",
            f"De grondslag '{clean}' staat in het beleid als nog niet bevestigd (verify). "
            "Het overzicht noemt haar zonder die markering; laat het artikel bevestigen "
            "voordat u het overzicht verstuurt.",
        )
        for clean in unconfirmed
    ]
    if any(DEFERRED in entry.obligations for entry in released):
        notes.append(
            (
                "informeren-uitgesteld",
                "Bij ten minste één verstrekking is het informeren van de betrokkene "
                "uitgesteld (UAVG art. 41). Overleg met de verstrekkende partij voordat u dit "
                "overzicht deelt.",
            )
        )
    if not controller.contact.strip():
        notes.append(
            (
                "contact-ontbreekt",
                "KMT_CONTROLLER_CONTACT is niet ingesteld: het overzicht noemt geen "
                "contactgegevens van de verwerkingsverantwoordelijke. Stel die in voordat u "
                "het overzicht verstuurt.",
            )
        )
    return tuple(notes)
