"""The audit API on a real ledger (SQLite and PostgreSQL): roles, access records, proofs,
subject search, the access report and the export."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from services.audit.api import create_app
from services.audit.ledger import Ledger, Query
from services.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from services.audit.recorder import draft_of
from services.audit.verify import verify_export
from services.common.body_limits import too_large
from services.common.http import MAX_JSON_DEPTH, SMALL_BODY_BYTES, TOO_DEEP
from services.common.models import Melding
from services.common.staff import add_member
from tests.ledger_backends import Backend, backend  # noqa: F401  (fixture)
from tests.test_audit_recorder import KEY, OPENER, events, melding, released


@dataclass
class Api:
    client: TestClient
    ledger: Ledger
    tokens: dict[str, str]
    melding: Melding

    def get(
        self, url: str, who: str = "privacy_officer", params: dict[str, object] | None = None
    ) -> httpx.Response:
        return self.client.get(url, headers=self._auth(who), params=params)  # type: ignore[arg-type]

    def post(self, url: str, body: object, who: str = "privacy_officer") -> httpx.Response:
        return self.client.post(url, json=body, headers=self._auth(who))

    def _auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}


@pytest.fixture
def api(backend: Backend, tmp_path: Path) -> Iterator[Api]:  # noqa: F811
    staff = tmp_path / "staff.json"
    tokens = {role: add_member(f"{role.replace('_', '-')}-1", role, staff) for role in (
        "privacy_officer", "operator", "kmt_worker")}  # fmt: skip
    m = melding()
    for event in events(m):
        backend.ledger.append(draft_of(event, KEY, OPENER))
    with TestClient(create_app(backend.ledger, KEY, staff)) as client:
        yield Api(client, backend.ledger, tokens, m)


def access_entries(ledger: Ledger) -> list[str | None]:
    return [e.event_type for e in ledger.search(Query(limit=1000)) if e.type == "audit_access"]


def test_only_privacy_officers_read_the_trail(api: Api) -> None:
    url = f"/v1/audit/meldingen/{api.melding.melding_id}"
    nobody = api.client.get(url)
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Bearer"
    forged = api.client.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401 and forged.json() == nobody.json()
    for role in ("operator", "kmt_worker"):
        refused = api.get(url, role)
        assert refused.status_code == 403
    assert access_entries(api.ledger) == []  # refused requests read nothing
    allowed = api.get(url)
    assert allowed.status_code == 200
    types = [e["type"] for e in allowed.json()["entries"]]
    assert types[:3] == ["melding", "decision", "disclosure"]


def test_every_read_is_itself_recorded(api: Api) -> None:
    api.get(f"/v1/audit/meldingen/{api.melding.melding_id}")
    api.get("/v1/audit/entries", params={"recipient": "veilig_thuis"})
    api.post("/v1/audit/subjects/search", {"bsn": "111222333"})
    accesses = [e for e in api.ledger.search(Query(limit=1000)) if e.type == "audit_access"]
    assert [e.event_type for e in accesses] == [
        "audit.melding", "audit.search", "audit.subject_search"]  # fmt: skip
    assert {e.actor for e in accesses} == {"staff:privacy-officer-1"}
    assert accesses[0].melding_id == str(api.melding.melding_id)
    assert api.ledger.verify().ok


def test_the_trail_is_searched_by_type_and_by_decision(api: Api) -> None:
    def found(**params: object) -> list[tuple[str, bool | None]]:
        answer = api.get("/v1/audit/entries", params=params).json()["entries"]
        return [(e["type"], e["allow"]) for e in answer if e["type"] != "audit_access"]

    assert found(type="decision") == [("decision", True)]
    assert found(type="decision", allow=True) == [("decision", True)]
    assert found(type="decision", allow=False) == []
    assert {kind for kind, _ in found(type=["melding", "disclosure"])} == {
        "melding", "disclosure"}  # fmt: skip


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/v1/audit/meldingen/not-a-uuid", "path.melding_id"),
        ("/v1/audit/entries?limit=0", "query.limit"),
        ("/v1/audit/entries?recipient=politie", "query.recipient"),
        ("/v1/audit/entries?since=gisteren", "query.since"),
        ("/v1/audit/entries?type=geheim", "query.type.0"),
        ("/v1/audit/entries?allow=misschien", "query.allow"),
        ("/v1/audit/entries?cursor=99999999999999999999999", "query.cursor"),
        ("/v1/audit/entries/99999999999999999999999/proof", "path.seq"),
        ("/v1/audit/entries/1/proof?tree_size=0", "query.tree_size"),
        ("/v1/audit/checkpoints/-1", "path.size"),
        # one more than SQLite's largest integer: refused here, not overflowing the store
        (f"/v1/audit/entries?cursor={2**63}", "query.cursor"),
        (f"/v1/audit/entries/{2**63}/proof", "path.seq"),
        (f"/v1/audit/entries/1/proof?tree_size={2**63}", "query.tree_size"),
        (f"/v1/audit/checkpoints/{2**63}", "path.size"),
        (f"/v1/audit/checkpoints/1/consistency/{2**63}", "path.new"),
    ],
)
def test_bad_input_gets_a_4xx_naming_it(api: Api, url: str, path: str) -> None:
    response = api.get(url)
    assert response.status_code == 422
    assert response.json()["detail"] == "Verzoek ongeldig"
    assert path in [e["path"] for e in response.json()["errors"]]


def test_subject_search_cursor_beyond_64_bits_is_refused(api: Api) -> None:
    url = f"/v1/audit/subjects/search?cursor={2**63}"
    response = api.post(url, {"bsn": "111222333"})
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["query.cursor"]
    assert access_entries(api.ledger) == []


@pytest.mark.parametrize(
    "url",
    ["/v1/audit/subjects/search", "/v1/audit/subjects/report", "/v1/audit/subjects/report.html"],
)
@pytest.mark.parametrize("depth", [100_000, MAX_JSON_DEPTH + 1], ids=["100000", "limit+1"])
def test_deeply_nested_json_is_a_dutch_422_not_a_500(api: Api, url: str, depth: int) -> None:
    response = api.client.post(
        url,
        content='{"bsn": ' + "[" * depth + "]" * depth + "}",
        headers={**api._auth("privacy_officer"), "Content-Type": "application/json"},
    )
    refused = (413, too_large(SMALL_BODY_BYTES)) if depth > SMALL_BODY_BYTES else (422, TOO_DEEP)
    assert (response.status_code, response.json()["detail"]) == refused
    assert access_entries(api.ledger) == []


def test_period_without_timezone_is_refused(api: Api) -> None:
    response = api.get("/v1/audit/entries?since=2026-01-01T00:00:00")
    assert response.status_code == 422
    assert "tijdzone" in response.json()["detail"]


def test_search_pages_with_a_cursor(api: Api) -> None:
    seen: list[int] = []
    cursor = -1
    while True:
        page = api.get("/v1/audit/entries", params={"limit": 2, "cursor": cursor}).json()
        seen += [e["seq"] for e in page["entries"] if e["type"] != "audit_access"]
        if page["next_cursor"] is None:
            break
        cursor = int(page["next_cursor"])
    assert seen == [0, 1, 2]
    by_basis = api.get("/v1/audit/entries", params={"legal_basis": "Wmo 2015 art. 5.2.6"}).json()
    assert {e["type"] for e in by_basis["entries"]} == {"decision", "disclosure"}


def test_subject_search_finds_by_bsn_or_by_name_and_birth_date(api: Api) -> None:
    by_bsn = api.post("/v1/audit/subjects/search", {"bsn": "111222333"}).json()
    by_name = api.post(
        "/v1/audit/subjects/search", {"name": "SANNE  de vries", "birth_date": "2001-05-14"}
    ).json()
    other = api.post("/v1/audit/subjects/search", {"bsn": "123456782"}).json()
    ids = {e["melding_id"] for e in by_bsn["entries"]}
    assert ids == {str(api.melding.melding_id)} == {e["melding_id"] for e in by_name["entries"]}
    assert other["entries"] == []


def test_subject_search_refuses_what_identifies_nobody(api: Api) -> None:
    for body in ({}, {"bsn": "111222334"}, {"name": "Sanne de Vries"}, {"bsn": "1", "x": 1}):
        response = api.post("/v1/audit/subjects/search", body)
        assert response.status_code == 422
        assert "111222334" not in response.text and "Sanne" not in response.text


def test_what_the_officer_typed_is_not_stored(api: Api, backend: Backend) -> None:  # noqa: F811
    api.post("/v1/audit/subjects/report", {"name": "Zeldzame Naam", "birth_date": "1999-09-09"})
    stored = " ".join(str(e.as_dict()) for e in api.ledger.search(Query(limit=1000)))
    assert "Zeldzame" not in stored and "zeldzame" not in stored and "1999-09-09" not in stored


def test_access_report_in_json_and_dutch_html(api: Api) -> None:
    *_, disclosed = recorded = events(api.melding)
    held_for_review = events(api.melding)[-1]  # about the same person, never released
    for event in (*recorded, released(disclosed), held_for_review):
        api.ledger.append(draft_of(event, KEY, OPENER))
    report = api.post("/v1/audit/subjects/report", {"bsn": "111222333"}).json()
    assert report["meldingen"] == 1
    (provided,) = report["verstrekkingen"]
    assert provided["recipient"] == "veilig_thuis"
    assert provided["categories"] == ["victim.name", "victim.bsn", "signals.narrative"]
    assert "informeren-uitgesteld" in [n["code"] for n in report["aandachtspunten"]]
    html = api.post("/v1/audit/subjects/report.html", {"bsn": "111222333"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for text in ("Veilig Thuis Twente", "naam", "BSN", "Wmo 2015 art. 5.2.6"):
        assert text in html.text
    assert "informeren-uitgesteld" in html.headers["KMT-Aandachtspunten"]
    nothing = api.post("/v1/audit/subjects/report.html", {"bsn": "123456782"})
    assert "geen meldingen" in nothing.text
    accesses = [e for e in api.ledger.search(Query(limit=1000)) if e.type == "audit_access"]
    assert [e.event_type for e in accesses] == ["audit.access_report"] * 3


def test_the_trail_shows_each_reason_in_dutch_with_its_rule(api: Api) -> None:
    for url in (f"/v1/audit/meldingen/{api.melding.melding_id}", "/v1/audit/entries"):
        entries = api.get(url).json()["entries"]
        (decision,) = [e for e in entries if e["type"] == "decision"]
        assert decision["reason_texts"] == [
            {"rule": "vt.minor", "text": "Slachtoffer is minderjarig."}
        ]
        assert decision["reasons"] == ["vt.minor: Slachtoffer is minderjarig."]
    assert api.ledger.verify().ok


def test_inclusion_and_consistency_proofs_verify(api: Api) -> None:
    first = api.client.get("/v1/audit/entries/1/proof")
    assert first.status_code == 404  # no checkpoint yet
    api.ledger.checkpoint()
    proof = api.client.get("/v1/audit/entries/1/proof").json()
    root = base64.b64decode(proof["checkpoint"]["root_hash"])
    leaf = leaf_hash(bytes.fromhex(proof["entry_hash"]))
    path = [base64.b64decode(p) for p in proof["proof"]]
    assert verify_inclusion(1, proof["checkpoint"]["size"], leaf, path, root)
    assert not verify_inclusion(2, proof["checkpoint"]["size"], leaf, path, root)
    assert api.client.get("/v1/audit/entries/99/proof").status_code == 404
    old_size = proof["checkpoint"]["size"]
    api.get(f"/v1/audit/meldingen/{api.melding.melding_id}")  # adds an access entry
    assert api.client.get(f"/v1/audit/entries/{old_size}/proof").status_code == 409
    api.ledger.checkpoint()
    new_size = old_size + 1
    body = api.client.get(f"/v1/audit/checkpoints/{old_size}/consistency/{new_size}").json()
    assert verify_consistency(
        old_size,
        new_size,
        base64.b64decode(body["old"]["root_hash"]),
        base64.b64decode(body["new"]["root_hash"]),
        [base64.b64decode(p) for p in body["proof"]],
    )
    assert (
        api.client.get(f"/v1/audit/checkpoints/{new_size}/consistency/{old_size}").status_code
        == 422
    )
    assert api.client.get("/v1/audit/checkpoints/12345").status_code == 404
    assert api.client.get("/v1/audit/public-key").text.strip() == api.ledger.verifier_key


def test_export_verifies_with_only_the_public_key(api: Api) -> None:
    api.ledger.checkpoint()
    response = api.get("/v1/audit/export")
    assert response.status_code == 200
    lines = response.text.splitlines()
    key = api.client.get("/v1/audit/public-key").text
    assert verify_export(lines, key).ok
    entries = [line for line in lines if '"kind":"entry"' in line]
    assert len(entries) >= 3 and '"verwerkingsnaam"' in entries[0]
    assert api.get("/v1/audit/export", "operator").status_code == 403


def test_every_data_category_has_a_dutch_name() -> None:
    from services.audit.report.wording import CATEGORY_NAMES
    from services.common.models import MELDING_PATHS

    assert set(MELDING_PATHS) <= set(CATEGORY_NAMES)
