"""Issue 9 item 4: recipients cannot link what they received through KMT's identifiers.

Each partner names a melding by its own `melding_ref`, keyed by a secret only sharing holds;
the melding id appears nowhere a partner can see: not in the partner API's list, not in the
sealed payload, not in the JWE's or the JWS's headers, not in the answer to an ack."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwe, jws
from joserfc.jwk import ECKey, OKPKey

from services.common.partners import add_partner, new_partner
from services.common.settings import Settings
from services.devstack import demo
from services.sharing.references import melding_reference, reference_key
from tests.stack import Stack, eventually, submission

MELDING = "5f0c3a52-8c1e-4c61-9d2a-0d6f3b1c7e11"


def test_a_reference_is_the_partners_own_and_needs_sharings_secret(tmp_path: Path) -> None:
    key = reference_key(Settings(keys_dir=tmp_path))
    assert reference_key(Settings(keys_dir=tmp_path)) == key  # kept, not made anew
    oost = melding_reference(key, MELDING, "riec-oost")
    assert oost == melding_reference(key, MELDING, "riec-oost")  # stable for one partner
    assert oost != melding_reference(key, MELDING, "riec-west")
    assert oost != melding_reference(key, "5f0c3a52-8c1e-4c61-9d2a-0d6f3b1c7e12", "riec-oost")
    # Whoever knows the melding id but not the secret cannot compute it.
    assert oost != melding_reference(bytes(32), MELDING, "riec-oost")
    assert MELDING not in oost and MELDING.replace("-", "") not in oost
    # The partner id and melding id are separated: no shifting of text between the two.
    assert melding_reference(key, "b", "a\x00") != melding_reference(key, "\x00b", "a")


def add_second_riec(stack: Stack) -> str:
    """Another RIEC partner, as `kmt partners add` would register it; keys in the demo dir."""
    partner_id = "riec-west"
    auth, encryption = OKPKey.generate_key("Ed25519"), ECKey.generate_key("P-256")
    home = demo.demo_dir(stack.settings) / partner_id
    home.mkdir(parents=True)
    (home / "auth.jwk.json").write_text(json.dumps(auth.as_dict(private=True)))
    (home / "encryption.jwk.json").write_text(json.dumps(encryption.as_dict(private=True)))
    add_partner(
        stack.settings.partners_file,
        new_partner(
            id=partner_id, name="RIEC West", kind="riec",
            auth_key=auth.as_dict(private=False),
            encryption_key=encryption.as_dict(private=False),
        ),
    )  # fmt: skip
    return partner_id


def _headers(compact: str) -> dict[str, Any]:
    first = compact.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))))


def test_two_recipients_of_one_melding_share_no_identifier(stack: Stack) -> None:
    partners = ("riec-oost", add_second_riec(stack))
    melding_id = stack.submit(submission("02.json"))
    seen: dict[str, dict[str, Any]] = {}
    for partner_id in partners:
        client = stack.client(partner_id)
        ref = stack.melding_ref(melding_id, partner_id)
        (item,) = eventually(
            lambda p=partner_id, r=ref: [i for i in stack.fetch_all(p) if i["melding_ref"] == r]
        )
        listing = httpx.get(
            f"{stack.url('sharing')}/v1/disclosures",
            headers={"Authorization": f"Bearer {client.token()}"},
        ).text
        payload = client.open(item)
        key = ECKey.import_key(
            json.loads((stack.partner_keys(partner_id) / "encryption.jwk.json").read_text())
        )
        signed = jwe.decrypt_compact(item["jwe"], key).plaintext
        assert signed is not None
        headers = [_headers(item["jwe"]), jws.extract_compact(signed).headers()]
        ack = httpx.post(
            f"{stack.url('sharing')}/v1/disclosures/{item['disclosure_id']}/ack",
            headers={"Authorization": f"Bearer {client.token()}"},
        )
        assert ack.status_code == 204 and ack.content == b""
        seen[partner_id] = {"item": item, "payload": payload}
        # The melding id, in any spelling, is nowhere the partner can see.
        visible = json.dumps([listing, payload, headers]).lower()
        for spelling in (melding_id, melding_id.replace("-", "")):
            assert spelling not in visible, partner_id
        assert payload["melding_ref"] == item["melding_ref"] == ref

    oost, west = (seen[p] for p in partners)
    # Every identifier KMT gave each of them differs; the shared rest is the policy's text.
    shared_policy = {"recipient", "purpose", "legal_basis", "obligations", "policy_revision"}
    for part in ("item", "payload"):
        for name, value in oost[part].items():
            if name in shared_policy or name in ("data", "created_at", "expires_at"):
                continue
            if value is not None:
                assert value != west[part][name], (part, name)
    # Only the ledger (KMT's own) links the two, by melding id.
    disclosed = [e for e in stack.audit_entries(melding_id) if e["type"] == "disclosure"]
    assert {e["disclosure_id"] for e in disclosed} >= {
        oost["item"]["disclosure_id"],
        west["item"]["disclosure_id"],
    }
