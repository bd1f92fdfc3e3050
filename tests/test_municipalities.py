"""The municipalities as people write them are the policies' own (the access report names
them; the policies' reasons do too)."""

from __future__ import annotations

import json
from pathlib import Path

from services.common.municipalities import MUNICIPALITY_NAMES, TWENTE

POLICY_DATA = Path(__file__).resolve().parents[1] / "policies/kmt/config/data.json"


def test_the_14_gemeenten_are_named_as_in_the_policies() -> None:
    config = json.loads(POLICY_DATA.read_text())
    assert len(TWENTE) == 14
    assert {m: MUNICIPALITY_NAMES[m] for m in TWENTE} == config["municipalities"]
