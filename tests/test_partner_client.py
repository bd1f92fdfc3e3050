"""The reference partner client and `kmt partner fetch`, against a stand-in partner API that
uses the real token endpoint, bearer check, minimisation and sealing."""

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, OKPKey
from typer.testing import CliRunner

from services.audit.checkpoint import verifier_key
from services.common import keys
from services.common.http import install_error_handlers
from services.common.partner_auth import partner_authenticated, token_router
from services.common.partners import Partner, add_partner, new_partner
from services.common.settings import Settings
from services.partner_client import PartnerClient, PartnerClientError
from services.partner_client import cli as partner_cli
from services.sharing.sealing import seal

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


class StandInSharing:
    """Just enough of sharing's partner API (same response shape) to drive the client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.items: list[dict[str, Any]] = []
        self.acked: list[str] = []
        self.melding_posts: list[tuple[str, dict[str, Any]]] = []
        self.app = FastAPI()
        install_error_handlers(self.app)
        self.app.include_router(token_router("sharing", settings))
        as_partner = partner_authenticated("sharing", settings)

        @self.app.get("/v1/disclosures")
        def disclosures(partner: Partner = Depends(as_partner), cursor: int = 0) -> dict[str, Any]:
            mine = [i for i in self.items if i["partner"] == partner.id and i["seq"] > cursor][:2]
            return {
                "items": [{k: v for k, v in i.items() if k != "partner"} for i in mine],
                "next_cursor": mine[-1]["seq"] if mine else cursor,
            }

        @self.app.post("/v1/disclosures/{disclosure_id}/ack", status_code=204)
        def ack(disclosure_id: str, partner: Partner = Depends(as_partner)) -> None:
            if not any(
                i["disclosure_id"] == disclosure_id and i["partner"] == partner.id
                for i in self.items
            ):
                raise HTTPException(404, "Niet gevonden")
            self.acked.append(disclosure_id)

        @self.app.post("/v1/meldingen", status_code=202)
        def melding(body: dict[str, Any], partner: Partner = Depends(as_partner)) -> dict[str, str]:
            self.melding_posts.append((partner.id, body))
            return {"melding_id": "m-1"}

    def publish(self, partner: Partner, payload: dict[str, Any]) -> None:
        jwe = seal(
            payload,
            signing_key=keys.load_signing_key(self.settings.keys_dir),
            recipient_public_key=partner.encryption_public_key(),
        )
        self.items.append(
            {
                "seq": len(self.items) + 1,
                "disclosure_id": payload["disclosure_id"],
                "melding_ref": payload.get("melding_ref"),
                "recipient": "riec",
                "jwe": jwe,
                "partner": partner.id,
            }
        )


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        keys_dir=tmp_path / "keys",
        partners_file=tmp_path / "p.json",
        sharing_public_url="http://testserver",  # where the TestClient's partner calls it
    )
    keys.generate_keys(settings.keys_dir)
    auth, encryption = OKPKey.generate_key("Ed25519"), ECKey.generate_key("P-256")
    partner = new_partner(
        id="riec-on",
        name="RIEC Oost-Nederland",
        kind="riec",
        encryption_key=dict(encryption.as_dict(private=False)),
        auth_key=dict(auth.as_dict(private=False)),
    )
    add_partner(settings.partners_file, partner)
    sharing = StandInSharing(settings)
    files = {
        "auth": tmp_path / "auth.jwk.json",
        "encryption": tmp_path / "enc.jwk.json",
        "kmt": tmp_path / "kmt.jwks.json",
    }
    files["auth"].write_text(json.dumps(auth.as_dict(private=True)))
    files["encryption"].write_text(json.dumps(encryption.as_dict(private=True)))
    files["kmt"].write_text(json.dumps(keys.public_keyset(settings.keys_dir).as_dict()))
    client = PartnerClient(
        base_url="http://testserver",
        partner_id="riec-on",
        auth_private_jwk=dict(auth.as_dict(private=True)),
        encryption_private_jwk=dict(encryption.as_dict(private=True)),
        kmt_public_jwks=json.loads(files["kmt"].read_text()),
        http=TestClient(sharing.app),
    )
    yield {
        "sharing": sharing,
        "partner": partner,
        "client": client,
        "files": files,
        "settings": settings,
    }


def test_round_trip_fetch_open_ack(kit: dict[str, Any]) -> None:
    sharing, client = kit["sharing"], kit["client"]
    for n in range(3):
        sharing.publish(kit["partner"], {"disclosure_id": f"d-{n}", "data": {"suspects": [n]}})
    first = client.fetch(0)
    assert [i["disclosure_id"] for i in first.items] == ["d-0", "d-1"]
    assert client.open(first.items[1]) == {"disclosure_id": "d-1", "data": {"suspects": [1]}}
    client.ack("d-0")
    assert sharing.acked == ["d-0"]
    rest = client.fetch(first.next_cursor)
    assert [i["disclosure_id"] for i in rest.items] == ["d-2"]
    assert client.fetch(rest.next_cursor).items == []


def test_token_is_reused_and_renewed_after_401(kit: dict[str, Any]) -> None:
    client = kit["client"]
    token = client.token()
    assert client.token() == token
    keys.generate_token_key(
        kit["settings"].keys_dir, "sharing"
    )  # every issued token is now invalid
    assert client.fetch(0).items == []
    assert client.token() != token


def test_open_refuses_content_of_another_disclosure(kit: dict[str, Any]) -> None:
    sharing, client = kit["sharing"], kit["client"]
    sharing.publish(kit["partner"], {"disclosure_id": "d-1"})
    item = client.fetch(0).items[0] | {"disclosure_id": "d-2"}
    with pytest.raises(PartnerClientError, match="hoort niet"):
        client.open(item)


def test_open_refuses_content_about_another_melding(kit: dict[str, Any]) -> None:
    """The listing's `melding_ref` must be the one KMT signed into the content: a tampered
    listing cannot make a partner file a disclosure under another melding."""
    sharing, client = kit["sharing"], kit["client"]
    sharing.publish(kit["partner"], {"disclosure_id": "d-1", "melding_ref": "a" * 64})
    item = client.fetch(0).items[0]
    assert client.open(item)["melding_ref"] == "a" * 64
    with pytest.raises(PartnerClientError, match="hoort niet"):
        client.open(item | {"melding_ref": "b" * 64})


def test_errors_carry_status_and_body(kit: dict[str, Any]) -> None:
    with pytest.raises(PartnerClientError) as raised:
        kit["client"].ack("bestaat-niet")
    assert raised.value.status == 404


def test_submit_melding_authenticates_at_intake(kit: dict[str, Any]) -> None:
    body = {"municipality": "almelo"}
    answer = kit["client"].submit_melding("http://testserver", body, "key-1")
    assert answer == {"melding_id": "m-1"}
    assert kit["sharing"].melding_posts == [("riec-on", body)]


def run_fetch(kit: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    http = TestClient(kit["sharing"].app)
    monkeypatch.setattr(partner_cli, "PartnerClient", partial(PartnerClient, http=http))
    app = typer.Typer()
    app.command()(partner_cli.fetch_command)
    files = kit["files"]
    return CliRunner().invoke(
        app,
        [
            "--partner-id", "riec-on",
            "--auth-key", str(files["auth"]),
            "--encryption-key", str(files["encryption"]),
            "--kmt-keys", str(files["kmt"]),
            "--base-url", "http://testserver",
            *args,
        ],
    )  # fmt: skip


def test_fetch_command_prints_plaintext_acks_and_keeps_its_cursor(
    kit: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sharing = kit["sharing"]
    for n in range(3):
        sharing.publish(kit["partner"], {"disclosure_id": f"d-{n}", "data": {"naam": "Zoë"}})
    cursor = tmp_path / "cursor"
    result = run_fetch(kit, monkeypatch, "--cursor-file", str(cursor))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["disclosure_id"] for line in lines] == ["d-0", "d-1", "d-2"]
    assert lines[0]["data"] == {"naam": "Zoë"}
    assert sharing.acked == ["d-0", "d-1", "d-2"]
    assert cursor.read_text() == "3"
    again = run_fetch(kit, monkeypatch, "--cursor-file", str(cursor))
    assert (again.exit_code, again.stdout) == (0, "")


def test_fetch_command_reports_a_disclosure_it_cannot_open_and_does_not_ack_it(
    kit: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sharing = kit["sharing"]
    sharing.publish(kit["partner"], {"disclosure_id": "d-0"})
    sharing.items[0]["jwe"] = sharing.items[0]["jwe"][:-4] + "AAAA"
    result = run_fetch(kit, monkeypatch)
    assert result.exit_code == 1
    assert "d-0 niet geopend" in result.stderr
    assert sharing.acked == []


def test_fetch_command_with_unknown_partner_exits_2(
    kit: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    kit["settings"].partners_file.write_text('{"partners": []}')
    result = run_fetch(kit, monkeypatch)
    assert result.exit_code == 2
    assert "invalid_client" in result.stderr


def test_client_with_old_and_new_encryption_key_opens_across_a_rotation(
    kit: dict[str, Any],
) -> None:
    sharing, old_client = kit["sharing"], kit["client"]
    sharing.publish(kit["partner"], {"disclosure_id": "d-old"})
    new_key = ECKey.generate_key("P-256")
    rotated = kit["partner"].model_copy(
        update={
            "encryption_key": dict(new_key.as_dict(private=False)) | {"kid": new_key.thumbprint()}
        }
    )
    sharing.publish(rotated, {"disclosure_id": "d-new"})
    client = PartnerClient(
        base_url=old_client.base_url,
        partner_id="riec-on",
        auth_private_jwk=old_client.auth_private_jwk,
        encryption_private_jwk={
            "keys": [old_client.encryption_private_jwk, dict(new_key.as_dict(private=True))]
        },
        kmt_public_jwks=old_client.kmt_public_jwks,
        http=old_client.http,
    )
    opened = [client.open(item)["disclosure_id"] for item in client.fetch(0).items]
    assert opened == ["d-old", "d-new"]


def test_fetch_command_wants_the_audit_address_and_its_pinned_key_together(
    kit: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alone = run_fetch(kit, monkeypatch, "--audit-url", "http://127.0.0.1:9")
    assert alone.exit_code == 2
    assert "horen bij elkaar" in alone.output
    key = tmp_path / "audit.pub"
    key.write_text("kmt-twente/audit/v1+00000000+AAAA")
    garbled = run_fetch(
        kit, monkeypatch, "--audit-url", "http://127.0.0.1:9", "--audit-key", str(key)
    )
    assert garbled.exit_code == 2
    assert "verifier key" in garbled.output


def test_fetch_command_reports_a_disclosure_without_a_receipt_as_not_verified(
    kit: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A listing that leaves out `audit_seq` and `audit_entry_hash` cannot pass for proven."""
    kit["sharing"].publish(kit["partner"], {"disclosure_id": "d-0"})
    key = tmp_path / "audit.pub"
    key.write_text(verifier_key(Ed25519PrivateKey.generate().public_key()))
    result = run_fetch(
        kit, monkeypatch, "--audit-url", "http://127.0.0.1:9", "--audit-key", str(key)
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["disclosure_id"] == "d-0"
    assert "d-0: NIET geverifieerd in het grootboek: geen geldig audit_seq" in result.stderr
