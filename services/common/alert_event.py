"""Data of `alert.raised`: the policies flagged a melding as acute danger (issue 12 §1).

Routing raises it with the melding's decisions, on a topic of its own (`kmt.alerts.v1`);
audit records it as an `alert` entry and the alerts service tells KMT's on-call channel. It
carries no personal data: ids, the policy's fixed alert sentences, categories.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from services.common.models import Strict
from services.common.municipalities import Municipality

VeiligThuis = Literal["direct", "na_beoordeling", "niet"]
"""What becomes of the Veilig Thuis disclosure: released at once (the policy allows it
without review), waiting for a KMT worker's review (at the top of the queue, marked acute),
or not allowed."""


class AlertRaised(Strict):
    melding_id: UUID
    alerts: list[str] = Field(
        min_length=1,
        description="The policy's alert sentences (data.kmt.config.alerts), in Dutch.",
    )
    minor: bool | None = Field(
        description="The victim is a minor on the date of reception; null when the age is "
        "unknown (the policy then asks for human review)."
    )
    municipality: Municipality
    veilig_thuis: VeiligThuis
    policy_revision: str
    raised_at: datetime
