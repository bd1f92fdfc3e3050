"""The console's audit endpoints on a real ledger (SQLite and PostgreSQL): the ledger's state,
`verify` on demand (which sees tampering), and the year's figures with every small cell
suppressed before it leaves the service; each only for privacy officers, each recorded."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from services.audit.api import create_app
from services.audit.cases import CaseFacts
from services.audit.counts import Counted
from services.audit.entry import Draft
from services.audit.figures import table
from services.audit.ledger import Ledger, Query
from services.common.staff import add_member
from tests.ledger_backends import Backend, backend  # noqa: F401  (fixture)

KEY = b"k" * 32
YEAR = datetime.now(UTC).year


@dataclass
class Api:
    client: TestClient
    ledger: Ledger
    tokens: dict[str, str]
    meldingen: list[str]

    def get(self, url: str, who: str = "privacy_officer", **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}
        return self.client.get(url, headers=headers, params=params)  # type: ignore[arg-type]


def recorded(melding: str, victim: str, municipality: str, minor: bool) -> list[Draft]:
    """A melding entry (the victim's pseudonym, and a suspect's) and Veilig Thuis's decision
    about it, as the ledger holds them."""
    rule = "veilig_thuis.minderjarig" if minor else "veilig_thuis.geen_meldcode_grond"
    return [
        Draft(
            type="melding",
            event_id=f"m-{melding}",
            actor="kmt/intake",
            melding_id=melding,
            subject_pseudonyms=(victim, f"verdachte-{melding}"),
            fields=("victim", "suspects[0]"),
        ),
        Draft(
            type="decision",
            event_id=f"d-{melding}",
            actor="kmt/routing",
            melding_id=melding,
            recipient="veilig_thuis",
            municipality=municipality,
            allow=minor,
            reasons=(f"{rule}: tekst",),
        ),
    ]


@pytest.fixture
def api(backend: Backend, tmp_path: Path) -> Iterator[Api]:  # noqa: F811
    staff = tmp_path / "staff.json"
    tokens = {role: add_member(f"{role.replace('_', '-')}-1", role, staff) for role in (
        "privacy_officer", "operator", "kmt_worker")}  # fmt: skip
    meldingen = [str(uuid.uuid4()) for _ in range(8)]
    for n, melding in enumerate(meldingen):  # six minors in almelo, two adults in enschede
        victim = f"slachtoffer-{n % 6}"  # the two in enschede are about two of the six
        drafts = recorded(melding, victim, "almelo" if n < 6 else "enschede", minor=n < 6)
        case = CaseFacts(melding, "2026-03-02T09:30:00+00:00", "zorg_wijkteam", "almelo")
        counted = Counted("vrouw", ("seksuele_uitbuiting",), 16 if n < 6 else 30)
        backend.ledger.append_many(
            drafts, cases={drafts[0].event_id: case}, counts={drafts[0].event_id: counted}
        )
    with TestClient(create_app(backend.ledger, KEY, staff)) as client:
        yield Api(client, backend.ledger, tokens, meldingen)


def reads(ledger: Ledger) -> list[tuple[str | None, str]]:
    found = ledger.search(Query(types=["audit_access"], limit=1000))
    return [(e.event_type, e.actor) for e in found]


def test_only_privacy_officers_get_them_and_every_call_is_recorded(api: Api) -> None:
    for url in ("/v1/audit/ledger", f"/v1/audit/figures?year={YEAR}"):
        assert api.get(url, "nobody").status_code == 401
        for role in ("operator", "kmt_worker"):
            assert api.get(url, role).status_code == 403
    refused = api.client.post("/v1/audit/verify", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401
    assert reads(api.ledger) == []  # refused requests read nothing
    assert api.get("/v1/audit/ledger").status_code == 200
    assert api.get("/v1/audit/figures", year=YEAR).status_code == 200
    officer = {"Authorization": f"Bearer {api.tokens['privacy_officer']}"}
    assert api.client.post("/v1/audit/verify", headers=officer).status_code == 200
    assert reads(api.ledger) == [
        ("audit.ledger", "staff:privacy-officer-1"),
        ("audit.figures", "staff:privacy-officer-1"),
        ("audit.verify", "staff:privacy-officer-1"),
    ]


def test_figures_suppress_every_cell_under_five_before_they_leave(api: Api) -> None:
    answer = api.get("/v1/audit/figures", year=YEAR)
    body = answer.json()
    assert body["meldingen"] == 8 and body["personen"] == 6
    reporters = body["tabellen"]["type melder"]
    assert reporters == {"rijen": [{"categorie": "zorg/wijkteam", "aantal": 8}], "totaal": 8}
    municipalities = body["tabellen"]["gemeente"]
    assert municipalities["rijen"] == [  # 8 - 6 would give the 2 back: almelo goes too
        {"categorie": "almelo", "aantal": None, "aanvullend": True},
        {"categorie": "enschede", "aantal": None},  # 2: shown as "< 5"
    ]
    assert municipalities["totaal"] == 8  # enschede 1 to 3, almelo 5 to 7: neither follows
    ages = {r["categorie"]: r["aantal"] for r in body["tabellen"]["minderjarig"]["rijen"]}
    assert ages == {"minderjarig": None, "meerderjarig": None}  # 6 and 2: 6 would follow
    assert body["tabellen"]["geslacht"]["rijen"] == [{"categorie": "vrouw", "aantal": 8}]
    assert body["leeftijd"] == {"gemiddelde": 19.5, "bekend": 8}
    text = json.dumps(body)
    assert not any(melding in text for melding in api.meldingen)  # no ids, only counts
    # a caller cannot lower the threshold to single someone out
    lower = api.get("/v1/audit/figures", year=YEAR, threshold=1)
    assert lower.status_code == 422
    higher = api.get("/v1/audit/figures", year=YEAR, threshold=7).json()
    assert higher["personen"] is None  # 6 < 7
    assert higher["tabellen"]["type melder"]["rijen"][0]["aantal"] == 8
    other_year = api.get("/v1/audit/figures", year=YEAR - 1).json()
    assert other_year["meldingen"] == 0


def test_verify_on_demand_sees_a_tampered_entry(api: Api, backend: Backend) -> None:  # noqa: F811
    officer = {"Authorization": f"Bearer {api.tokens['privacy_officer']}"}
    good = api.client.post("/v1/audit/verify", headers=officer).json()
    assert good["ok"] and good["entries"] >= 16 and good["summary"].startswith("in orde")
    state = api.get("/v1/audit/ledger").json()
    assert state["entries"] >= 17 and state["verifier_key"]
    backend.tamper("UPDATE entries SET municipality = 'hengelo' WHERE seq = 1")
    bad = api.client.post("/v1/audit/verify", headers=officer).json()
    assert not bad["ok"] and bad["problems"][0]["seq"] == 1
    assert bad["summary"].startswith("NIET IN ORDE")


@pytest.mark.parametrize(
    ("counts", "hidden", "total"),
    [
        ({"a": 9, "b": 7}, set(), 16),  # nothing small
        ({"a": 9, "b": 7, "c": 2}, {"b", "c"}, 18),  # 18 - 9 = 9: b and c not singled out
        ({"a": 9, "b": 1, "c": 1}, {"a", "b", "c"}, 11),  # two 1s were forced: hide a
        ({"b": 1, "c": 1}, {"b", "c"}, None),  # forced, and nothing else to hide
        ({"a": 9, "b": 4, "c": 4, "d": 6}, {"b", "c", "d"}, 23),  # 4 + 4 is forced: hide d
        ({"a": 9, "b": 3, "c": 4}, {"b", "c"}, 16),  # 7 is 3 + 4 or 4 + 3: nothing follows
    ],
)
def test_no_hidden_cell_follows_from_the_total_and_the_cells_shown(
    counts: dict[str, int], hidden: set[str], total: int | None
) -> None:
    from collections import Counter

    shown = table(Counter(counts), 5)
    assert {r["categorie"] for r in shown["rijen"] if r["aantal"] is None} == hidden
    assert shown["totaal"] == total
    assert all(r["aantal"] is None or r["aantal"] >= 5 for r in shown["rijen"])


def test_kmt_workers_read_the_newest_alerts_as_on_call_was_told(api: Api) -> None:
    for n, melding in enumerate(api.meldingen[:3]):
        api.ledger.append(
            Draft(
                type="alert",
                event_id=f"a-{melding}",
                actor="kmt/routing",
                melding_id=melding,
                municipality="almelo",
                reasons=(f"alert: acuut gevaar {n}", "minderjarig: ja", "veilig_thuis: direct"),
            )
        )
    assert api.get("/v1/audit/alerts", "privacy_officer").status_code == 403
    assert api.get("/v1/audit/alerts", "nobody").status_code == 401
    found = api.get("/v1/audit/alerts", "kmt_worker", limit=2).json()["alerts"]
    assert [a["melding_id"] for a in found] == [api.meldingen[2], api.meldingen[1]]  # newest
    assert found[0] | {"recorded_at": "-"} == {
        "melding_id": api.meldingen[2],
        "recorded_at": "-",
        "municipality": "almelo",
        "alerts": ["acuut gevaar 2"],
        "minor": "ja",
        "veilig_thuis": "direct",
    }
    assert reads(api.ledger) == [("audit.alerts", "staff:kmt-worker-1")]
