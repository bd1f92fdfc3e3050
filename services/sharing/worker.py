"""Sharing's event handler: meldingen and decisions in, sealed disclosures out; audit
receipts in, releases out.

A disclosure is created for every allowed decision (signed by routing, and confirmed by
asking the policy once more on the melding's own facts) and every partner registered for its
recipient, minimised to the decision's fields, signed by KMT and encrypted for that partner.
It is released to the partner only after the audit service's receipt for it (and, with
`review:human`, after a KMT worker approved it).

Nothing here publishes: every change is committed together with the events announcing it
(the outbox's `enqueue`), and the relay (`services.bus.relay`) publishes those. A publish
that fails can therefore never leave a change without its event.

A partner sees its own reference to the melding (`melding_ref`, see
`services.sharing.references`), never the melding id, so two recipients cannot link what
they received through KMT's identifiers.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from services.bus.consumer import Handling, Record
from services.common import keys
from services.common.events import (
    AUDIT_RECORDED,
    DISCLOSURE_ACKNOWLEDGED,
    DISCLOSURE_CREATED,
    DISCLOSURE_RELEASED,
    DISCLOSURE_REVIEWED,
    MELDING_RECEIVED,
    SHARING_DECIDED,
    CloudEvent,
    MalformedEvent,
    derived_id,
    new_event,
    parse_data,
    parse_event,
)
from services.common.facts import MeldingReceived, policy_facts
from services.common.models import (
    RECIPIENTS,
    AuditRecorded,
    Decision,
    DisclosureCreated,
    DisclosureLifecycle,
    Melding,
    SharingDecided,
    paths_in,
)
from services.common.partners import Partner, RegistryFile
from services.common.settings import Settings
from services.common.topics import (
    AUDIT_RECEIPTS,
    DECISIONS,
    DISCLOSURES,
    MELDINGEN,
    carried_by,
)
from services.keyring.vault import MeldingErased, Opener
from services.observability import tracing
from services.policy.engine import Engine
from services.sharing.acute import AcuteMarks
from services.sharing.allowlist import refuse_forbidden
from services.sharing.batch import Prepared, WouldWait, finish_now, prepare
from services.sharing.minimise import expires_at, minimise
from services.sharing.outbox import Outbox, StoredDisclosure
from services.sharing.partner_webhooks import PartnerNotices
from services.sharing.references import melding_reference, reference_key
from services.sharing.reviews import REVIEW_HUMAN, sealed_brief, verdict
from services.sharing.sealing import seal

log = logging.getLogger(__name__)
SOURCE = "kmt/sharing"
ACTOR = "kmt/sharing"
HANDLED = frozenset({MELDING_RECEIVED, SHARING_DECIDED, AUDIT_RECORDED})


class ReviewConflict(Exception):
    """A verdict on a disclosure whose review was already recorded otherwise."""

    def __init__(self, recorded: str | None) -> None:
        super().__init__(f"beoordeling al vastgelegd als {recorded}")
        self.recorded = recorded


def consumed_topics(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in (MELDINGEN, DECISIONS, AUDIT_RECEIPTS)]


class Sharing:
    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        opener: Opener,
        policy: Engine,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.opener = opener
        self.policy = policy
        self.reference_key = reference_key(settings)
        self.registry = RegistryFile(settings.partners_file)  # read again when it changes
        self.acute = AcuteMarks(outbox.db)
        self.notices = PartnerNotices(settings, outbox.db, self.registry)
        self.prepared: Prepared | None = None  # while a batch is handled

    def handling(self) -> Handling:
        return Handling(self, self.handle_batch)

    async def __call__(self, record: Record) -> None:
        await self.handle_event(self.parse(record))

    async def handle_batch(self, records: Sequence[Record]) -> None:
        """The records' changes in one transaction (`services.sharing.batch`)."""
        events = [self.parse(record) for record in records]
        self.prepared = await prepare(self, events)
        try:
            with self.outbox.transaction():
                for event in events:
                    finish_now(self.handle_event(event))
        finally:
            self.prepared = None

    def parse(self, record: Record) -> CloudEvent:
        # only the types of the record's own topic: its signature proves that topic's owner
        handled = HANDLED & carried_by(record.topic, self.settings.topic_prefix)
        return parse_event(record.value, set(handled))

    async def handle_event(self, event: CloudEvent) -> None:
        with tracing.step(f"sharing {event.type}", event.traceparent):  # also in a batch
            if event.type == MELDING_RECEIVED:
                await self.on_melding(event)
            elif event.type == SHARING_DECIDED:
                await self.on_decision(event)
            else:
                await self.on_receipt(parse_data(event, AuditRecorded))

    async def on_melding(self, event: CloudEvent) -> None:
        melding = parse_data(event, MeldingReceived)
        # kept as it came: sealed under the melding's data key, so erasing that key erases it
        if self.outbox.keep_melding(str(melding.melding_id), melding.sealed):
            for event_id, body in self.outbox.unprocessed_decisions(str(melding.melding_id)):
                try:
                    await self.process_decision(event_id, SharingDecided.model_validate_json(body))
                except MalformedEvent as refused:  # a decision that came before its melding
                    log.warning("besluit %s geweigerd: %s", event_id, refused)

    async def on_decision(self, event: CloudEvent) -> None:
        decision = parse_data(event, SharingDecided)
        if self.outbox.is_processed(event.id):
            return  # redelivered: its disclosures and their events were committed already
        melding_id = str(decision.melding_id)
        self.outbox.keep_decision(
            event.id, melding_id, decision.recipient, decision.model_dump_json()
        )
        if self.outbox.melding(melding_id) is not None:
            await self.process_decision(event.id, decision)
        # else: the melding arrives later on its own topic; on_melding processes this then.

    async def process_decision(self, event_id: str, decision: SharingDecided) -> None:
        melding = self.open_melding(str(decision.melding_id))
        made = []
        if decision.allow and melding is not None:
            try:
                await self.confirm(decision, melding)
                refuse_forbidden(decision, melding)  # LEGAL.md's table, whatever the policy says
            except MalformedEvent:
                self.outbox.drop_decision(event_id)
                raise
            for partner in self.registry.current().recipient_partners(
                decision.recipient, decision.municipality
            ):
                made.append(self.make_disclosure(event_id, decision, melding, partner))
            if not made:
                log.warning(
                    "melding %s: %s toegestaan maar geen partner geregistreerd",
                    decision.melding_id,
                    decision.recipient,
                )
        with self.outbox.transaction():
            if self.outbox.finish_decision(
                event_id, str(decision.melding_id), made, len(RECIPIENTS)
            ):
                if decision.alerts:  # acute danger: its review comes first
                    self.acute.mark(str(decision.melding_id))
                for stored in made:
                    self.outbox.enqueue(self.topic, CloudEvent.model_validate(stored.event))

    async def confirm(self, decision: SharingDecided, melding: Melding) -> None:
        """Ask the policy once more, on the facts of the melding itself, before disclosing:
        routing's signature proves who decided, not that the policy said so. A decision that
        differs (a compromised routing, or intake's facts not matching what it sealed) is
        malformed; an unreachable policy engine is retried (`PolicyUnavailable`)."""
        if self.prepared is None:
            expected = await self.policy.decide(policy_facts(melding), decision.recipient)
        else:  # in a batch: asked before its transaction began
            asked = (str(decision.melding_id), decision.recipient)
            if asked not in self.prepared.answers:
                raise WouldWait("beleid niet vooraf gevraagd")
            expected = self.prepared.answers[asked]
        if expected.policy_revision != decision.policy_revision:
            raise MalformedEvent(
                f"beleid gewijzigd sinds het besluit ({decision.policy_revision} → "
                f"{expected.policy_revision}); opnieuw laten beslissen"
            )
        if _grant(expected) != _grant(decision):
            raise MalformedEvent("besluit wijkt af van het beleid; er wordt niets gedeeld")

    def open_melding(self, melding_id: str) -> Melding | None:
        """The melding, or None when it was erased meanwhile (nothing can be shared then)."""
        if self.prepared is not None and melding_id in self.prepared.meldingen:
            return self.prepared.meldingen[melding_id]  # opened before the batch's transaction
        sealed = self.outbox.melding(melding_id)
        assert sealed is not None
        try:
            return self.opener.melding(melding_id, sealed)
        except MeldingErased:
            log.warning("melding %s is gewist; er wordt niets gedeeld", melding_id)
            return None

    def make_disclosure(
        self, event_id: str, decision: SharingDecided, melding: Melding, partner: Partner
    ) -> StoredDisclosure:
        disclosure_id = derived_id(event_id, "disclosure", partner.id)
        created_at = datetime.now(UTC)
        expiry = expires_at(created_at, decision.obligations)
        envelope = {
            "disclosure_id": disclosure_id,
            "melding_ref": melding_reference(
                self.reference_key, str(decision.melding_id), partner.id
            ),
            "recipient": decision.recipient,
            "purpose": decision.purpose,
            "legal_basis": decision.legal_basis,
            "obligations": decision.obligations,
            "policy_revision": decision.policy_revision,
            "created_at": created_at.isoformat(),
            "expires_at": expiry.isoformat() if expiry else None,
        }
        data = minimise(
            melding, decision, keys.pseudonym_key(decision.recipient, self.settings.keys_dir)
        )
        jwe = seal(
            {**envelope, "data": data},
            signing_key=keys.load_signing_key(self.settings.keys_dir),
            recipient_public_key=partner.encryption_public_key(),
        )
        created = DisclosureCreated(
            disclosure_id=disclosure_id,
            decision_event_id=event_id,
            melding_id=decision.melding_id,
            recipient=decision.recipient,
            recipient_partner=partner.id,
            municipality=decision.municipality,
            purpose=decision.purpose or "",
            legal_basis=decision.legal_basis,
            fields=paths_in(data),  # what was sealed, not all the decision allowed
            obligations=decision.obligations,
            policy_revision=decision.policy_revision,
            created_at=created_at,
            expires_at=expiry,
            ciphertext_sha256=sha256_hex(jwe),
            jwe=jwe,
        )
        event = new_event(
            type=DISCLOSURE_CREATED,
            source=SOURCE,
            subject=str(decision.melding_id),
            data=created,
            id=derived_id(disclosure_id, "created"),
        )
        return StoredDisclosure(
            seq=0,
            disclosure_id=disclosure_id,
            melding_id=str(decision.melding_id),
            recipient=decision.recipient,
            partner_id=partner.id,
            event=event.model_dump(mode="json"),
            created_at=created_at.isoformat(),
            expires_at=expiry.isoformat() if expiry else None,
            needs_review=REVIEW_HUMAN in decision.obligations,
            audit_seq=None,
            review=None,
            released_at=None,
            acked_at=None,
            review_brief=sealed_brief(self.opener, self.outbox, decision, melding),
        )

    @property
    def topic(self) -> str:
        return self.settings.topic(DISCLOSURES)

    async def on_receipt(self, receipt: AuditRecorded) -> None:
        if receipt.event_type != DISCLOSURE_CREATED or receipt.disclosure_id is None:
            return
        disclosure_id = str(receipt.disclosure_id)
        known = self.outbox.disclosure(disclosure_id)
        if known is None:
            return  # a disclosure of another sharing instance's store; not ours to release
        # Audit signed this receipt (the consumer checked); it must be for exactly this
        # disclosure: its created event and the very ciphertext we sealed.
        created = CloudEvent.model_validate(known.event)
        if receipt.event_id != created.id or receipt.ciphertext_sha256 != created.data.get(
            "ciphertext_sha256"
        ):
            raise MalformedEvent("ontvangstbewijs hoort niet bij deze disclosure")
        with self.outbox.transaction():
            stored = self.outbox.record_receipt(disclosure_id, receipt.seq, receipt.entry_hash)
            if stored is not None and (not stored.needs_review or stored.review == "approved"):
                self.release(stored, actor=ACTOR)

    def release(self, stored: StoredDisclosure, actor: str) -> None:
        """Release once, with its event; releasing again changes and announces nothing."""
        with self.outbox.transaction():
            if self.outbox.release(stored.disclosure_id, datetime.now(UTC)):
                self.announce(stored, "released", actor, DISCLOSURE_RELEASED)
                self.notices.released(stored)  # the partner's webhook, if it has one

    def review(self, stored: StoredDisclosure, approve: bool, reviewer: str, reason: str) -> None:
        """A KMT worker's verdict on a `review:human` disclosure, with its reason; only
        approval releases, and a rejected disclosure's ciphertext is destroyed.

        The first recorded verdict stands: `stored` may be stale (read before another
        verdict was recorded), so the store decides. A different verdict than the recorded
        one raises ReviewConflict and releases nothing; a rejected disclosure stays
        rejected. The verdict, its sealed reason, its event (with the reason's hash) and (on
        approval) the release and its event are committed together. `ReviewRefused` when the
        reason cannot be sealed (the melding was erased)."""
        action = "approved" if approve else "rejected"
        actor = f"staff:{reviewer}"
        sealed, digest, event = verdict(self.opener, self.outbox, stored, approve, reason)
        with self.outbox.transaction():
            if self.outbox.record_review(stored.disclosure_id, action, reviewer, sealed, event):
                self.announce(stored, action, actor, DISCLOSURE_REVIEWED, digest)
            current = self.outbox.disclosure(stored.disclosure_id)
            recorded = current.review if current else None
            # The receipt may have come after `stored` was read: release on the current state.
            if current and recorded == action == "approved" and current.audit_seq is not None:
                self.release(current, actor=actor)
        if recorded != action:
            raise ReviewConflict(recorded)

    def acknowledge(self, stored: StoredDisclosure, partner_id: str) -> None:
        """The partner's acknowledgement of receipt: recorded once, with its event."""
        with self.outbox.transaction():
            if self.outbox.acknowledge(stored.disclosure_id, datetime.now(UTC)):
                self.announce(
                    stored, "acknowledged", f"partner:{partner_id}", DISCLOSURE_ACKNOWLEDGED
                )

    def announce(
        self,
        stored: StoredDisclosure,
        action: str,
        actor: str,
        event_type: str,
        reason_sha256: str | None = None,
    ) -> None:
        """Enqueue the event of a change to a disclosure (in the caller's transaction)."""
        data = DisclosureLifecycle(
            disclosure_id=stored.disclosure_id,
            melding_id=stored.melding_id,
            recipient=stored.recipient,
            partner_id=stored.partner_id,
            action=action,
            actor=actor,
            at=datetime.now(UTC),
            reason_sha256=reason_sha256,
        )
        event = new_event(
            type=event_type,
            source=SOURCE,
            subject=stored.melding_id,
            data=data,
            id=derived_id(stored.disclosure_id, action),
            traceparent=CloudEvent.model_validate(stored.event).traceparent,  # the melding's
        )
        self.outbox.enqueue(self.topic, event)


def _grant(decision: Decision) -> tuple[object, ...]:
    """What a decision lets go out, and to whom: the part sharing acts on."""
    return (
        decision.recipient,
        decision.allow,
        decision.municipality,
        decision.purpose,
        tuple(decision.legal_basis),
        frozenset(decision.fields),
        frozenset(decision.obligations),
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
