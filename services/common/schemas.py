"""JSON Schemas of the event data, generated from the pydantic contracts into `schemas/`."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from services.common import models
from services.common.alert_event import AlertRaised
from services.common.facts import MeldingReceived, PolicyFacts
from services.common.policy_events import PolicyActivated, PolicySwitched
from services.common.status_event import MeldingStatus

CONTRACTS: dict[str, type[BaseModel]] = {
    "melding.v1.submission": models.MeldingSubmission,
    "melding.received": MeldingReceived,
    "melding.v1": models.Melding,  # the plaintext inside `sealed`
    "sharing.decided": models.SharingDecided,
    "disclosure.created": models.DisclosureCreated,
    "disclosure.lifecycle": models.DisclosureLifecycle,
    "policy.activated": PolicyActivated,
    "policy.switched": PolicySwitched,
    "staff.accessed": models.StaffAccessed,
    "audit.recorded": models.AuditRecorded,
    "deadletter": models.DeadLetter,
    "alert.raised": AlertRaised,
    "melding.status": MeldingStatus,
    "policy.facts": PolicyFacts,  # the OPA input's `melding` (not an event)
}


def documents() -> dict[str, str]:
    """File name → schema text, exactly as `kmt schemas export` writes it."""
    return {
        f"{name}.schema.json": json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": name,
                **model.model_json_schema(),
            },
            indent=2,
            ensure_ascii=False,
            sort_keys=True,
        )
        + "\n"
        for name, model in CONTRACTS.items()
    }


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
