"""Data of the policy lifecycle's events: `policy.activated`, a revision that started
deciding, and `policy.switched`, the approved revision every routing instance decides with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from services.common.models import Strict


class PolicyActivated(Strict):
    """Data of `policy.activated`: a policy revision started deciding (first seen by routing)."""

    policy_revision: str
    first_decision_at: datetime


class PolicySwitched(Strict):
    """Data of `policy.switched` (topic `kmt.policy.switches.v1`, signed by the policy
    lifecycle alone): an approved activation or a rollback made `policy_revision` the version
    every routing instance decides with from now on; a routing instance that has seen it
    records no decision of another revision."""

    policy_revision: str = Field(pattern=r"^sha256:[0-9a-f]{16}$")
    bundle_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    step: Literal["policy_activated", "policy_rolled_back"]
    ledger_seq: int = Field(ge=0, description="The step's entry in the audit trail.")
    switched_at: datetime
