"""Is this case already known? (issue 12 §3) On the real stack: a KMT worker lists the earlier
meldingen about the same victim (by BSN, or by name and birth date after normalisation) or the
same suspect; a different person is not linked; a partner and a privacy officer cannot ask;
every look-up is an `audit_access` entry in the trail of each melding it showed."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.stack import Stack, eventually, submission

pytestmark = pytest.mark.integration
BSN = "111222333"


def melding(
    victim: dict[str, Any], suspect: dict[str, Any] | None = None, reporter: str = "gemeente"
) -> dict[str, Any]:
    base = copy.deepcopy(submission("02.json"))  # RIEC yes, gemeente no, Veilig Thuis no
    base["victim"] = {"gender": "vrouw", **victim}
    base["suspects"] = [{"role": "dader", **suspect}] if suspect else []
    base["reporter"]["type"] = reporter
    return base


def recorded(stack: Stack, melding_id: str) -> str:
    """Wait until the melding and its three decisions are in the ledger (so meldingen are
    recorded in the order sent, and the earlier ones' decisions can be shown)."""
    eventually(lambda: sum(e["type"] == "decision" for e in stack.audit_entries(melding_id)) == 3)
    return melding_id


def related(stack: Stack, melding_id: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{stack.url('audit')}/v1/audit/meldingen/{melding_id}/related",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_earlier_meldingen_about_the_same_victim_or_suspect(stack: Stack) -> None:
    sent = {
        "by_bsn_and_name": melding(
            {"bsn": BSN, "name": "José de Vries", "birth_date": "2001-05-14"},
            {"name": "Rick Bakker", "birth_date": "1996-02-01"},
        ),
        "by_name_only": melding(  # no BSN: case, accents and spacing differ
            {"name": "  JOSE   de vries ", "birth_date": "2001-05-14"}, reporter="zorg_wijkteam"
        ),
        "by_bsn_only": melding({"bsn": BSN}),
        "same_suspect": melding(
            {"name": "Eva Smit", "birth_date": "1999-09-09", "bsn": "123456782"},
            {"name": "rick  BAKKER", "birth_date": "1996-02-01"},
        ),
        "someone_else": melding(  # same name, other birth date; other BSN; other suspect
            {"name": "José de Vries", "birth_date": "2002-05-14", "bsn": "100000009"},
            {"name": "Rick Bakker", "birth_date": "1997-02-01"},
        ),
    }
    ids = {name: recorded(stack, stack.submit(body)) for name, body in sent.items()}
    asked = recorded(
        stack,
        stack.submit(
            melding(
                {"bsn": BSN, "name": "Jose de Vries", "birth_date": "2001-05-14"},
                {"name": "Rick Bakker", "birth_date": "1996-02-01"},
            )
        ),
    )

    response = related(stack, asked, stack.worker_token)
    assert response.status_code == 200, response.text
    assert "Vries" not in response.text and BSN not in response.text  # ids and categories
    earlier = {k["melding_id"]: k for k in response.json()["earlier"]}
    assert set(earlier) == {ids[n] for n in sent if n != "someone_else"}
    assert earlier[ids["by_bsn_and_name"]]["same"] == ["suspect", "victim"]
    assert earlier[ids["by_name_only"]]["same"] == ["victim"]
    assert earlier[ids["by_bsn_only"]]["same"] == ["victim"]
    assert earlier[ids["same_suspect"]]["same"] == ["suspect"]
    known = earlier[ids["by_name_only"]]
    assert (known["reporter_type"], known["municipality"]) == ("zorg_wijkteam", "almelo")
    trail = stack.audit_entries(ids["by_name_only"])  # the decisions as the ledger has them
    assert [(d["type"], d["recipient"], d["allow"]) for d in known["decisions"]] == [
        (e["type"], e["recipient"], e["allow"]) for e in trail if e["type"] == "decision"
    ]
    assert {d["recipient"] for d in known["decisions"]} == {
        "riec", "gemeente_veiligheid", "veilig_thuis"}  # fmt: skip
    order = [k["received_at"] for k in response.json()["earlier"]]
    assert order == sorted(order, reverse=True)  # newest first

    # The earliest melding has nothing before it; the later ones are never "earlier".
    first = related(stack, ids["by_bsn_and_name"], stack.worker_token)
    assert first.status_code == 200 and first.json()["earlier"] == []

    # Every look-up is recorded, in the trail of each melding it showed, as one read.
    def reads(melding_id: str) -> list[dict[str, Any]]:
        return [e for e in stack.audit_entries(melding_id) if e["event_type"] == "audit.case_links"]

    (own,) = reads(asked)
    (shown,) = reads(ids["same_suspect"])
    assert own["type"] == shown["type"] == "audit_access"
    assert own["actor"] == "staff:demo-kmt-medewerker" and own["trace_id"] == shown["trace_id"]
    assert reads(ids["someone_else"]) == []


def test_only_a_kmt_worker_may_ask(stack: Stack) -> None:
    asked = recorded(stack, stack.submit(melding({"bsn": BSN})))
    partner = stack.client("riec-oost")
    for token in (
        partner.token(stack.url("sharing")),  # a partner's valid token, for sharing
        stack.client("wijkteam-almelo").token(stack.url("intake")),  # the reporter's own
        "x.y.z",
    ):
        assert related(stack, asked, token).status_code == 401
    assert related(stack, asked, stack.officer_token).status_code == 403
    unknown = related(stack, "00000000-0000-4000-8000-000000000000", stack.worker_token)
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("Deze melding")
