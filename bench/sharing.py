"""Benchmark (not a test): disclosures per second through minimise + sign + encrypt, what a
partner spends opening one, tokens per second, and partner-API fetches per second.

    .venv/bin/python bench/sharing.py [-n 2000]

Everything runs in this process with fresh keys in a temporary directory; the partner API is
sharing's real FastAPI app over in-process ASGI (no network, no Kafka: its lifespan does not
run, the outbox is filled directly, so acks, which publish to Kafka, are not measured).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from joserfc.jwk import ECKey, OKPKey  # noqa: E402

from services.common import keys  # noqa: E402
from services.common.models import Decision, Melding, Reason, SharingDecided  # noqa: E402
from services.common.partners import add_partner, new_partner  # noqa: E402
from services.common.settings import Settings  # noqa: E402
from services.keyring import generate_all  # noqa: E402
from services.partner_client import PartnerClient  # noqa: E402
from services.sharing.app import create_app  # noqa: E402  (the real partner API)
from services.sharing.minimise import minimise  # noqa: E402
from services.sharing.outbox import open_outbox  # noqa: E402
from services.sharing.sealing import open_sealed, seal  # noqa: E402
from services.sharing.worker import Sharing  # noqa: E402

# What LEGAL.md lets each recipient see: the realistic spread of payload sizes.
FIELDS = {
    "riec": (
        ["municipality", "exploitation_forms", "victim.gender", "victim.age",
         "victim.nationality", "victim.pseudonym", "suspects", "location",
         "signals.undermining_indicators", "police_involved"],
        ["pseudonymise:victim", "retention:P5Y"],
    ),
    "gemeente_veiligheid": (
        ["municipality", "exploitation_forms", "location", "signals.risk_summary"],
        ["retention:P2Y"],
    ),
    "veilig_thuis": (
        ["municipality", "exploitation_forms", "victim", "suspects", "location",
         "signals.narrative", "signals.risk_summary", "signals.domestic_violence",
         "signals.minors_in_household"],
        ["minimise:health", "retention:P1Y"],
    ),
}  # fmt: skip


def meldingen() -> list[Melding]:
    return [
        Melding.model_validate(
            {
                "melding_id": str(uuid4()),
                "received_at": "2026-03-02T09:30:00Z",
                **json.loads(p.read_text(encoding="utf-8"))["melding"],
            }
        )
        for p in sorted((REPO / "tests" / "scenarios").glob("*.json"))
    ]


def decisions() -> list[Decision]:
    return [
        Decision(
            recipient=recipient,
            allow=True,
            purpose="bench",
            fields=fields,
            obligations=obligations,
            reasons=[Reason(rule="bench", text="bench")],
            policy_revision="bench",
        )
        for recipient, (fields, obligations) in FIELDS.items()
    ]


def measure(label: str, unit: str, n: int, step: Callable[[int], object]) -> str:
    for i in range(min(50, n)):  # warm-up
        step(i)
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        step(i)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return (
        f"| {label} | {n} {unit} | {n / elapsed:,.0f} "
        f"| {cuts[49] * 1000:.2f} | {cuts[98] * 1000:.2f} |"
    )


class Bench:
    def __init__(self, root: Path, n: int) -> None:
        self.n = n
        self.settings = Settings(
            data_dir=root / "data",
            keys_dir=root / "keys",
            partners_file=root / "partners.json",
            sharing_public_url="http://testserver",  # where the TestClient's partner calls it
        )
        generate_all(self.settings.keys_dir)
        self.signing_key = keys.load_signing_key(self.settings.keys_dir)
        self.pseudonym_key = keys.pseudonym_key("riec", self.settings.keys_dir)
        self.auth_key = OKPKey.generate_key("Ed25519")
        self.encryption_key = ECKey.generate_key("P-256")
        self.partner = new_partner(
            id="riec-on",
            name="RIEC",
            kind="riec",
            encryption_key=dict(self.encryption_key.as_dict(private=False)),
            auth_key=dict(self.auth_key.as_dict(private=False)),
        )
        add_partner(self.settings.partners_file, self.partner)
        self.cases = [(m, d) for m in meldingen() for d in decisions()]

    def case(self, i: int) -> tuple[Melding, Decision]:
        return self.cases[i % len(self.cases)]

    def disclosure(self, i: int) -> str:
        melding, decision = self.case(i)
        payload = {
            "disclosure_id": str(uuid4()),
            "data": minimise(melding, decision, self.pseudonym_key),
        }
        return seal(payload, signing_key=self.signing_key,
                    recipient_public_key=self.partner.encryption_public_key())  # fmt: skip

    def rows(self) -> list[str]:
        sealed = [self.disclosure(i) for i in range(len(self.cases))]
        kmt_keys = keys.public_keyset(self.settings.keys_dir)
        rows = [
            measure("minimise", "disclosures", self.n,
                    lambda i: minimise(*self.case(i), self.pseudonym_key)),
            measure("minimise + sign + encrypt", "disclosures", self.n, self.disclosure),
            measure("decrypt + verify (partner)", "disclosures", self.n,
                    lambda i: open_sealed(sealed[i % len(sealed)],
                                          recipient_private_key=self.encryption_key,
                                          kmt_public_keys=kmt_keys)),
        ]  # fmt: skip
        return rows + self.api_rows()

    def api_rows(self) -> list[str]:
        http = TestClient(create_app(self.settings))  # no `with`: no lifespan, no Kafka
        client = self.client(http)
        count = max(self.n // 10, 200)
        self.fill_outbox(count)
        pages = -(-count // 50)
        page_cursors = [50 * p for p in range(pages)]
        return [
            measure("token (private_key_jwt)", "tokens", self.n // 10,
                    lambda i: self.client(http).token()),
            measure("GET /v1/disclosures (pagina van 50)", "pagina's", self.n // 10,
                    lambda i: client.fetch(page_cursors[i % pages])),
            measure("fetch-pagina + decrypt + verify, per disclosure", "disclosures", count,
                    lambda i: self.fetch_and_open(client, i)),
        ]  # fmt: skip

    def client(self, http: TestClient) -> PartnerClient:
        return PartnerClient(
            base_url="http://testserver",
            partner_id=self.partner.id,
            auth_private_jwk=dict(self.auth_key.as_dict(private=True)),
            encryption_private_jwk=dict(self.encryption_key.as_dict(private=True)),
            kmt_public_jwks=dict(keys.public_keyset(self.settings.keys_dir).as_dict()),
            http=http,
        )

    def fetch_and_open(self, client: PartnerClient, i: int) -> None:
        """What a partner does per disclosure, minus the ack (that publishes to Kafka)."""
        if i % 50 == 0:
            self.page = client.fetch(i).items
        client.open(self.page[i % 50])

    def fill_outbox(self, count: int) -> None:
        """Disclosures as the sharing worker makes them, receipted and released."""
        outbox = open_outbox(self.settings)
        worker = Sharing(self.settings, outbox, None, None)  # type: ignore[arg-type]
        for i in range(count):
            melding, decision = self.case(i)
            decided = _sharing_decided(melding, decision)
            event_id = str(uuid4())
            stored = worker.make_disclosure(event_id, decided, melding, self.partner)
            outbox.finish_decision(event_id, str(melding.melding_id), [stored], 3)
            outbox.record_receipt(stored.disclosure_id, i, "0" * 64)
            outbox.release(stored.disclosure_id, datetime.now(UTC))
        outbox.close()


def _sharing_decided(melding: Melding, decision: Decision) -> SharingDecided:
    return SharingDecided.model_validate(
        decision.model_dump()
        | {"recipient": "riec", "melding_id": melding.melding_id, "decided_at": datetime.now(UTC)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="herhalingen per meting")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = Bench(Path(tmp), args.n).rows()
    print("| stap | aantal | per seconde | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
