"""Sharing a batch of records in one transaction of the outbox.

Handled on its own, each record commits its changes in a transaction of its own, and a
decision in two; every commit of the SQLite outbox waits for the disk. In a batch, all the
records' changes commit in one transaction. Nothing may wait for I/O inside it (another
coroutine's transaction would join it), so what sharing waits for, the policy's second
answer on every allowed decision, is asked first, for the whole batch at once; then the
records are handled in order without waiting (`finish_now`). If a record would wait after
all, or anything fails, the transaction rolls back and the consumer handles each record on
its own (`services.bus.consumer.handle_batch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services.common.events import MELDING_RECEIVED, SHARING_DECIDED, CloudEvent, parse_data
from services.common.facts import MeldingReceived, policy_facts
from services.common.models import Decision, Melding, SharingDecided
from services.keyring.vault import MeldingErased

if TYPE_CHECKING:
    from services.sharing.worker import Sharing


class WouldWait(Exception):
    """A record of a batch had to wait for something that was not asked beforehand."""


@dataclass
class Prepared:
    """What a batch's records need from outside, got before its transaction: the policy's
    answers by (melding id, recipient), and the meldingen they were asked on, opened."""

    answers: dict[tuple[str, str], Decision] = field(default_factory=dict)
    meldingen: dict[str, Melding] = field(default_factory=dict)


def finish_now(step: Coroutine[Any, Any, None]) -> None:
    """Run `step` to its end at once; `WouldWait` if it tries to wait for anything."""
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise WouldWait("een record van de batch moest wachten")


async def prepare(sharing: Sharing, events: Sequence[CloudEvent]) -> Prepared:
    """Ask the policy, all at once, about every allowed decision the events may process: a
    decision whose melding is kept, and the kept decisions of a melding that arrives."""
    prepared = Prepared()
    asks: set[tuple[str, str]] = set()
    for event in events:
        if event.type == MELDING_RECEIVED:
            received = parse_data(event, MeldingReceived)
            melding_id = str(received.melding_id)
            if _open(sharing, prepared, melding_id, received.sealed):
                for _, body in sharing.outbox.unprocessed_decisions(melding_id):
                    decision = SharingDecided.model_validate_json(body)
                    if decision.allow:
                        asks.add((melding_id, decision.recipient))
        elif event.type == SHARING_DECIDED:
            decision = parse_data(event, SharingDecided)
            melding_id = str(decision.melding_id)
            sealed = sharing.outbox.melding(melding_id) if decision.allow else None
            if sealed is not None and _open(sharing, prepared, melding_id, sealed):
                asks.add((melding_id, decision.recipient))
    asked = sorted(asks)
    answers = await asyncio.gather(
        *(sharing.policy.decide(policy_facts(prepared.meldingen[m]), r) for m, r in asked)
    )
    prepared.answers = dict(zip(asked, answers, strict=True))
    return prepared


def _open(sharing: Sharing, prepared: Prepared, melding_id: str, sealed: str) -> bool:
    if melding_id not in prepared.meldingen:
        try:
            prepared.meldingen[melding_id] = sharing.opener.melding(melding_id, sealed)
        except MeldingErased:
            return False  # the handler finds it erased too, and shares nothing
    return True
