"""policies/README.md's tables for privacy officers are generated from the policies.

The block between the markers is rendered from the METADATA annotations (`opa inspect`)
and from real decisions of the policies; this test fails when the README falls behind.
Regenerate with: KMT_UPDATE_README=1 .venv/bin/pytest tests/test_policies_readme.py
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

from services.common.models import RECIPIENTS, Decision, Melding
from services.policy.engine import POLICIES, OneShotEngine, decide_all, find_opa_binary

README = POLICIES / "README.md"
BEGIN = "<!-- BEGIN gegenereerd door tests/test_policies_readme.py -->"
END = "<!-- END gegenereerd -->"
NAMES = {
    "riec": "RIEC",
    "gemeente": "veiligheidsmedewerker gemeente",
    "veilig_thuis": "Veilig Thuis",
    "algemeen": "alle ontvangers",
}
HEADERS = {
    "riec": "RIEC",
    "gemeente_veiligheid": "Gemeente (veiligheid)",
    "veilig_thuis": "Veilig Thuis",
}

BASE: dict[str, Any] = {
    "melding_id": "00000000-0000-4000-8000-000000000001",
    "received_at": "2026-03-02T09:30:00Z",
    "reporter": {"type": "gemeente", "organisation": "Gemeente Hengelo"},
    "municipality": "hengelo",
    "exploitation_forms": ["criminele_uitbuiting"],
    "victim": {"birth_date": "2010-01-20"},
    "signals": {
        "safety_risk": True,
        "risk_summary": "dreiging",
        "undermining_indicators": ["crimineel_netwerk"],
    },
}
EXTRA: dict[str, Any] = {
    **BASE,
    "case": {"wgs_designated": True},
    "victim": {"health_information": "gezondheid"},
    "suspects": [{"relation_to_victim": "vader"}],
    "provenance": [{"source": "politie", "regime": "WPG", "fields": ["location.address"]}],
}
ACUTE: dict[str, Any] = {**BASE, "signals": {**BASE["signals"], "acute_danger": True}}


def opa() -> str:
    binary = find_opa_binary()
    assert binary is not None, "opa ontbreekt: make provision of KMT_OPA_BIN"
    return binary


def _decisions(data: dict[str, Any]) -> dict[str, Decision]:
    async def run() -> list[Decision]:
        engine = OneShotEngine(POLICIES, opa())
        try:
            return await decide_all(engine, Melding.model_validate(data))
        finally:
            await engine.close()

    return {d.recipient: d for d in asyncio.run(run())}


def _codes(items: list[str]) -> str:
    return "<br>".join(f"`{item}`" for item in items) or "—"


def rules_table() -> list[str]:
    out = subprocess.run(
        [opa(), "inspect", "--annotations", "--format", "json", str(POLICIES)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for entry in json.loads(out)["annotations"]:
        note, custom = entry["annotations"], entry["annotations"].get("custom", {})
        if "rule" not in custom:
            continue
        prefix = custom["rule"].split(".")[0]
        rows.append(
            (
                list(NAMES).index(prefix),
                entry["location"]["file"],
                entry["location"]["row"],
                f"| {NAMES[prefix]} | `{custom['rule']}` | {custom['effect']} | {note['title']} "
                f"| {'; '.join(custom['legal'])} |",
            )
        )
    header = ["| Ontvanger | Regel | Effect | Wanneer | Wet |", "|---|---|---|---|---|"]
    return header + [row[-1] for row in sorted(rows)]


def sharing_table() -> list[str]:
    base = _decisions(BASE)
    variants = [_decisions(EXTRA), _decisions(ACUTE)]

    def extra(recipient: str, attribute: str) -> list[str]:
        seen = getattr(base[recipient], attribute)
        found = [
            item
            for variant in variants
            if variant[recipient].allow
            for item in getattr(variant[recipient], attribute)
        ]
        return [item for item in dict.fromkeys(found) if item not in seen]

    rows: dict[str, Callable[[str], str]] = {
        "Doel": lambda r: base[r].purpose or "—",
        "Grondslag": lambda r: "<br>".join(base[r].legal_basis),
        "Soms ook grondslag": lambda r: "<br>".join(extra(r, "legal_basis")) or "—",
        "Velden": lambda r: _codes(base[r].fields),
        "Verplichtingen": lambda r: _codes(base[r].obligations),
        "Soms ook verplichting": lambda r: _codes(extra(r, "obligations")),
        "Soms ook veld": lambda r: _codes(extra(r, "fields")),
    }
    lines = ["| | " + " | ".join(HEADERS[r] for r in RECIPIENTS) + " |", "|---" * 4 + "|"]
    for label, cell in rows.items():
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in RECIPIENTS) + " |")
    return lines


def render() -> str:
    return "\n".join(
        [
            BEGIN,
            "",
            "### Regels",
            "",
            *rules_table(),
            "",
            "### Wat er meegaat",
            "",
            *sharing_table(),
            "",
            END,
        ]
    )


def test_readme_tables_are_in_step_with_the_policies() -> None:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    assert pattern.search(text), "markeringen voor de gegenereerde tabel ontbreken"
    fresh = render()
    if os.environ.get("KMT_UPDATE_README") == "1":
        README.write_text(pattern.sub(lambda _: fresh, text), encoding="utf-8")
    current = pattern.search(README.read_text(encoding="utf-8"))
    assert current is not None and current.group(0) == fresh, (
        "policies/README.md loopt achter op het beleid: KMT_UPDATE_README=1 .venv/bin/pytest "
        "tests/test_policies_readme.py"
    )
