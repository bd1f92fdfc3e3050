"""Data of `melding.status`: how far KMT got with a melding, for its reporter (issue 12 §4).

Audit publishes it on a topic of its own (`kmt.status.v1`), from what the ledger recorded;
intake, the reporter's side, reads only that topic. It names no recipient and no decision:
only the step reached and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from services.common.models import Strict

Step = Literal["assessed", "alert", "closed"]
"""`assessed`: the decisions for all three recipients are in the ledger; `alert`: an
acute-danger alert was raised; `closed`: nothing of the melding waits any more (every
disclosure its decisions allowed was released or rejected by a reviewer)."""


class MeldingStatus(Strict):
    melding_id: UUID
    step: Step
    at: datetime
