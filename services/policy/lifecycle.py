"""Propose, dry-run, approve, activate and roll back policy versions, with four eyes, all of
it in the audit ledger.

The ledger is the record of the lifecycle, and its only state: who proposed a version (with
its bundle's SHA-256), which dry-run reports are on record, who approved, and the order of
activations and rollbacks are all read back from its hash-chained, checkpoint-signed entries,
so no file beside the trail can be edited to fake an approval. The version store only keeps
the immutable bundles and the `active` pointer the bundle server hands to OPA; every switch
is recorded first, then made, and `history` says when the pointer differs from the ledger.

Each step is an entry with the operator as actor (`staff:<id>`), the version id in
`policy_revision` and the bundle's SHA-256 in `ciphertext_sha256` (the field that names the
SHA-256 of what a step is about; no new column, so the ledger's schema and hashes stay as
they were). A dry run's report hash is its reason `rapport-sha256:<hex>`; a refusal's reason
is `<stap>: <Dutch reason>`. A version's message is not recorded (free text stays in the
version's manifest).

Rules: only staff of role `operator` act. A proposal must pass every candidate check. The
approver is another operator than the proposer and has a dry-run report of that exact
version on record. Activation needs an approval. Rollback re-activates the version that was
active before the current one, without a new approval. Before any step the stored bundle is
checked against its manifest and against the hash recorded at proposal. Every refusal is
itself recorded and changes nothing else.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, get_args

from pydantic import ValidationError

from services.audit.entry import Draft, Entry, EntryType
from services.audit.ledger import Appended, Ledger, Query
from services.common.policy_events import PolicySwitched
from services.common.settings import Settings
from services.common.staff import StaffMember, load_staff
from services.policy import switches
from services.policy.bundle_signing import BundleSigningFailed
from services.policy.candidate import CandidateRefused
from services.policy.dry_run import Report
from services.policy.step_lock import StepLock, step_lock
from services.policy.versions import ID_PATTERN, Version, VersionError, VersionStore

STEPS: tuple[EntryType, ...] = tuple(
    step for step in get_args(EntryType) if step.startswith("policy_") and step != "policy_change"
)
"""The lifecycle's entry types, as `services.audit.entry.EntryType` names them."""
EVENT_TYPE = "nl.kmt.policy.{}"
REPORT_PREFIX = "rapport-sha256:"
_PAGE = 1000
_T = TypeVar("_T")


def report_document(report: Report) -> str:
    """A dry-run report as JSON text: what is shown or answered, and what is hashed."""
    return json.dumps(report.as_json(), ensure_ascii=False, indent=2)


def report_sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class Refused(Exception):
    """A lifecycle step that is not allowed; recorded as `policy_refused`, reason in Dutch."""


class NotAnnounced(Exception):
    """A switch recorded in the ledger but not announced on the bus (`switches.py`), so the
    store still serves the version before it; the message says, in Dutch, how to finish it."""


Announce = Callable[[PolicySwitched], None]


@dataclass(frozen=True)
class Outcome:
    version: Version
    seq: int
    created: bool = True
    """False when the step was on record already (the same version proposed again)."""


class Lifecycle:
    def __init__(
        self,
        ledger: Ledger,
        store: VersionStore,
        staff_file: Path | None = None,
        lock: StepLock | None = None,
        announce: Announce | None = None,
    ):
        self.ledger = ledger
        self.store = store
        self.staff_file = staff_file
        self.lock = lock or step_lock("", store.root)
        """Held for each step, its checks and its refusal (`step_lock.py`)."""
        self.announce = announce
        """Tells every routing instance of a switch (`switches.announce`); None: no bus."""

    @classmethod
    def of(cls, settings: Settings, ledger: Ledger) -> Lifecycle:
        """The lifecycle of this deployment: `ledger`, its version store, staff and lock."""
        store = VersionStore.of(settings)
        lock = step_lock(settings.audit_db_url, store.root)

        def announce(switch: PolicySwitched) -> None:
            asyncio.run(switches.announce(settings, switch))

        return cls(ledger, store, settings.staff_file, lock, announce)

    # -- the record ---------------------------------------------------------------------

    def steps(self) -> list[Entry]:
        """Every lifecycle entry in the ledger, oldest first."""
        found: list[Entry] = []
        after = -1
        while True:
            page = self.ledger.search(Query(types=STEPS, after=after, limit=_PAGE))
            found += page
            if len(page) < _PAGE:
                return found
            after = page[-1].seq

    def activations(self) -> list[str]:
        """The versions activated, as a stack: a rollback takes the top one off."""
        stack: list[str] = []
        for step in self.steps():
            if step.type == "policy_activated" and step.policy_revision:
                stack.append(step.policy_revision)
            elif step.type == "policy_rolled_back" and len(stack) > 1:
                stack.pop()
        return stack

    def active(self) -> str | None:
        """The version the ledger says is active; None before the first activation."""
        stack = self.activations()
        return stack[-1] if stack else None

    # -- the steps ----------------------------------------------------------------------

    def propose(self, directory: Path, message: str, by: str) -> Outcome:
        def step() -> Outcome:
            try:
                version = self.store.build(directory, f"staff:{by}", message)
            except (CandidateRefused, VersionError, BundleSigningFailed) as exc:
                raise Refused(f"kandidaat geweigerd: {exc}") from None
            done = self._record("policy_proposed", by, version, f"policy_proposed:{version.id}")
            return Outcome(version, done.seq, done.created)

        return self._guarded("indienen", by, None, step)

    def record_dry_run(self, revision: str, report_sha256: str, by: str) -> Outcome:
        """Put a dry-run report of `revision` on record (after `check_dry_run` and the run)."""
        return self._guarded(
            "proefrun",
            by,
            revision,
            lambda: self._done(
                "policy_dry_run", by, self._proposed(revision), (REPORT_PREFIX + report_sha256,)
            ),
        )

    def check_dry_run(self, revision: str, by: str) -> Version:
        """The version to dry-run on the record: a proposed, intact one, by an operator."""
        return self._guarded("proefrun", by, revision, lambda: self._proposed(revision))

    def approve(self, revision: str, by: str) -> Outcome:
        def step() -> Outcome:
            version = self._proposed(revision)
            if self._proposer(revision) == f"staff:{by}":
                raise Refused("vier ogen: wie de versie indiende, keurt haar niet goed")
            if not self._on_record("policy_dry_run", revision, f"staff:{by}"):
                raise Refused(
                    f"geen proefrun van {revision} door {by} vastgelegd: voer eerst"
                    f" `kmt policy dry-run {revision} --by {by}` uit en lees het rapport"
                )
            return self._done("policy_approved", by, version)

        return self._guarded("goedkeuren", by, revision, step)

    def activate(self, revision: str, by: str) -> Outcome:
        def step() -> Outcome:
            version = self._proposed(revision)
            if not self._on_record("policy_approved", revision):
                raise Refused(f"{revision} is niet goedgekeurd door een tweede operator")
            if self.active() == revision and self.store.active() == revision:
                raise Refused(f"{revision} is al actief")
            outcome = self._done("policy_activated", by, version)
            self._switch(version, outcome, "policy_activated", revision)
            return outcome

        return self._guarded("activeren", by, revision, step)

    def rollback(self, by: str) -> Outcome:
        def step() -> Outcome:
            stack = self.activations()
            if len(stack) < 2:
                raise Refused("er is geen eerder geactiveerde versie om naar terug te gaan")
            version = self._proposed(stack[-2])
            outcome = self._done("policy_rolled_back", by, version, (f"van {stack[-1]}",))
            self._switch(version, outcome, "policy_rolled_back", version.id)
            return outcome

        return self._guarded("terugdraaien", by, self.active, step)

    # -- helpers ------------------------------------------------------------------------

    def _switch(self, version: Version, outcome: Outcome, step: str, to_finish: str) -> None:
        """After the step is recorded: announce it on the bus, then switch the store. If the
        announcement fails the store is not switched, and activating `to_finish` again (the
        ledger's active version, which the store does not serve yet) finishes it."""
        if self.announce is not None:
            try:
                self.announce(
                    switches.switched(version.id, version.bundle_sha256, step, outcome.seq)
                )
            except Exception as exc:
                raise NotAnnounced(
                    f"vastgelegd in de audittrail (seq {outcome.seq}), maar niet aangekondigd"
                    f" op de bus ({type(exc).__name__}); {version.id} is nog niet actief:"
                    f" voer `kmt policy activate {to_finish}` opnieuw uit"
                ) from exc
        self.store.set_active(version.id)

    def _guarded(
        self,
        name: str,
        by: str,
        about: str | Callable[[], str | None] | None,
        step: Callable[[], _T],
    ) -> _T:
        """Run `step` for operator `by` under the lock; a refusal is recorded (naming the
        version `about`, or the one it gives), then raised."""
        with self.lock():
            try:
                self._operator(by)
                return step()
            except Refused as exc:
                revision = about() if callable(about) else about
                actor = f"staff:{by}" if _valid_id(by) else "onbekend"
                if revision is not None and not ID_PATTERN.fullmatch(revision):
                    revision = None  # never free text in the trail
                self.ledger.append(
                    Draft(
                        type="policy_refused",
                        event_id=f"policy_refused:{uuid.uuid4()}",
                        event_type=EVENT_TYPE.format("refused"),
                        actor=actor,
                        policy_revision=revision,
                        ciphertext_sha256=self._recorded_hash(revision) if revision else None,
                        reasons=(f"{name}: {exc}",),
                    )
                )
                raise

    def _operator(self, by: str) -> None:
        if not _valid_id(by):
            raise Refused("ongeldige medewerker-id")
        members = {m.id: m.role for m in load_staff(self.staff_file)}
        if members.get(by) != "operator":
            raise Refused(f"{by} is geen bekende medewerker met de rol operator")

    def _proposed(self, revision: str) -> Version:
        """The stored version, intact and equal to the bundle recorded at its proposal."""
        if not ID_PATTERN.fullmatch(revision):
            raise Refused("ongeldige versie-id: verwacht sha256:<16 hex>")
        recorded = self._recorded_hash(revision)
        if recorded is None:
            raise Refused(f"{revision} is niet ingediend (`kmt policy propose`)")
        try:
            version = self.store.load(revision)
        except VersionError as exc:
            raise Refused(str(exc)) from None
        if version.bundle_sha256 != recorded:
            raise Refused(f"bundel van {revision} is niet die bij het indienen vastgelegd werd")
        return version

    def _recorded_hash(self, revision: str) -> str | None:
        proposals = [s for s in self.steps() if s.type == "policy_proposed"]
        return next((s.ciphertext_sha256 for s in proposals if s.policy_revision == revision), None)

    def _proposer(self, revision: str) -> str | None:
        return next(
            (
                s.actor
                for s in self.steps()
                if s.type == "policy_proposed" and s.policy_revision == revision
            ),
            None,
        )

    def _on_record(self, kind: EntryType, revision: str, actor: str | None = None) -> bool:
        return any(
            s.type == kind and s.policy_revision == revision and actor in (None, s.actor)
            for s in self.steps()
        )

    def _done(
        self, kind: EntryType, by: str, version: Version, reasons: tuple[str, ...] = ()
    ) -> Outcome:
        done = self._record(kind, by, version, f"{kind}:{uuid.uuid4()}", reasons)
        return Outcome(version, done.seq)

    def _record(
        self,
        kind: EntryType,
        by: str,
        version: Version,
        event_id: str,
        reasons: tuple[str, ...] = (),
    ) -> Appended:
        return self.ledger.append(
            Draft(
                type=kind,
                event_id=event_id,
                event_type=EVENT_TYPE.format(kind.removeprefix("policy_")),
                actor=f"staff:{by}",
                policy_revision=version.id,
                ciphertext_sha256=version.bundle_sha256,
                reasons=reasons,
            )
        )


def _valid_id(by: str) -> bool:
    try:
        StaffMember(id=by, role="operator")
    except ValidationError:
        return False
    return True
