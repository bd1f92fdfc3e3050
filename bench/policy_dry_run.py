"""Times `kmt policy dry-run` over N synthetic stored policy inputs.

Makes a throw-away deployment directory (keys, key store, routing's history), fills routing's
history with N meldingen through `PolicyInputs.keep` as routing does (facts varied from the
worked scenarios: municipality, age, consent, signals, ondermijning, suspects, forms; each
with its own data key), the recorded decisions being those of `policies/`; then dry-runs a
candidate (policies/ with the RIEC no longer receiving suspects) over all of them and prints
the time and the changes per recipient.

    .venv/bin/python bench/policy_dry_run.py -n 1000000

With `--dir DIR` the deployment is kept there, and a later run with the same DIR dry-runs the
history it already holds instead of filling it again.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.common.facts import MeldingReceived, PolicyFacts, policy_facts  # noqa: E402
from services.common.models import RECIPIENTS, Melding  # noqa: E402
from services.common.settings import Settings  # noqa: E402
from services.keyring.datakeys import DataKeyStore  # noqa: E402
from services.keyring.vault import input_key  # noqa: E402
from services.policy.dry_run import Report, decide_batch, dry_run  # noqa: E402
from services.policy.engine import POLICIES, build_input, find_opa_binary, write_bundle  # noqa: E402
from services.routing.history import PolicyInputs  # noqa: E402
from services.state.database import open_state  # noqa: E402

MUNICIPALITIES = ["almelo", "borne", "dinkelland", "enschede", "haaksbergen", "hellendoorn",
                  "hengelo", "hof_van_twente", "losser", "oldenzaal", "rijssen_holten",
                  "tubbergen", "twenterand", "wierden"]  # fmt: skip
FORMS = ["seksuele_uitbuiting", "criminele_uitbuiting", "arbeidsuitbuiting", "overig"]
INDICATORS = ["crimineel_netwerk", "witwassen", "vastgoed", "bedrijfsstructuur"]
RELATIONS = [None, "partner", "vader", "werkgever", "kennis", "loverboy", "overig"]


def scenario_facts() -> list[dict[str, Any]]:
    found = []
    for path in sorted((REPO / "tests" / "scenarios").glob("*.json")):
        melding = json.loads(path.read_text())["melding"]
        melding.setdefault("melding_id", str(uuid.uuid4()))
        found.append(policy_facts(Melding.model_validate(melding)).model_dump(mode="json"))
    return found


def variant(base: dict[str, Any], rng: random.Random) -> PolicyFacts:
    facts = json.loads(json.dumps(base))
    facts["municipality"] = rng.choice(MUNICIPALITIES)
    facts["exploitation_forms"] = rng.sample(FORMS, rng.randint(1, 2))
    facts["victim"] = {
        "age": rng.choice([None, *range(12, 70)]),
        "consent": rng.choice([None, True, False]),
    }
    signals = facts["signals"]
    for name in ("acute_danger", "safety_risk", "domestic_violence", "minors_in_household"):
        signals[name] = rng.random() < 0.25
    signals["undermining_indicators"] = rng.sample(INDICATORS, rng.choice([0, 0, 0, 1, 2]))
    facts["suspects"] = [
        {"role": rng.choice(["dader", "facilitator", "onbekend"]), "relation_to_victim": r}
        for r in rng.sample(RELATIONS, rng.randint(0, 3))
    ]
    return PolicyFacts.model_validate(facts)


def fill(settings: Settings, n: int, variants: int, opa: str, seed: int) -> None:
    rng = random.Random(seed)
    bases = scenario_facts()
    pool = [variant(rng.choice(bases), rng) for _ in range(variants)]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        write_bundle(POLICIES, bundle)
        now = datetime.now(UTC)
        decided = decide_batch(
            opa, bundle, [build_input(f, RECIPIENTS, now) for f in pool], ["-"] * len(pool)
        )
    keys = DataKeyStore.of(settings)
    keys._db.execute("PRAGMA synchronous=OFF")  # setting up, not what is measured
    state = open_state(settings, "routing")
    state.execute("PRAGMA synchronous=OFF")
    inputs = PolicyInputs(state, keys, input_key(settings.keys_dir))
    start = now - timedelta(days=700)
    for i in range(n):
        facts = pool[i % variants]
        melding_id = uuid.uuid4()
        at = start + timedelta(seconds=i * 60)
        facts = facts.model_copy(update={"melding_id": melding_id, "received_at": at})
        keys.create(f"{melding_id}/intake", str(melding_id), {"sharing": "-", "audit": "-"})
        received = MeldingReceived(melding_id=melding_id, received_at=at, facts=facts, sealed="-")
        inputs.keep(received, decided[i % variants], at)
        if i and i % 100_000 == 0:
            print(f"  {i} opgeslagen", flush=True)
    inputs.close()


def candidate(tmp: Path) -> Path:
    """policies/ with the RIEC no longer receiving suspects."""
    target = tmp / "kandidaat"
    shutil.rmtree(target, ignore_errors=True)  # a kept --dir has the last run's
    shutil.copytree(POLICIES, target)
    config = target / "kmt" / "config" / "data.json"
    data = json.loads(config.read_text())
    data["recipients"]["riec"]["fields"].remove("suspects")
    config.write_text(json.dumps(data, indent=2))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="opgeslagen meldingen")
    parser.add_argument("--variants", type=int, default=5000, help="verschillende feitensets")
    parser.add_argument("--parallel", type=int, default=0, help="opa-processen (0: per core)")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="bewaar de opgeslagen invoer hier (hergebruik)")
    args = parser.parse_args()
    opa = find_opa_binary()
    if opa is None:
        sys.exit("opa niet gevonden: make provision")
    with tempfile.TemporaryDirectory(prefix="kmt-bench-dry-run-") as tmp:
        root = args.dir or Path(tmp)
        settings = Settings(data_dir=root / "data", keys_dir=root / "keys")
        if not (root / "data").exists():
            began = time.monotonic()
            fill(settings, args.n, args.variants, opa, args.seed)
            print(f"{args.n} invoeren opgeslagen in {time.monotonic() - began:.0f} s", flush=True)
        bundle = root / "bundle"
        revision = write_bundle(candidate(root), bundle)
        inputs = PolicyInputs.of(settings)
        report = dry_run(
            inputs, bundle, opa, Report("kandidaat", revision), args.parallel, args.batch
        )
        inputs.close()
    rate = report.meldingen / report.seconds if report.seconds else 0.0
    print(f"proefrun: {report.meldingen} meldingen in {report.seconds:.1f} s ({rate:.0f}/s)")
    for recipient, tally in report.recipients.items():
        print(f"  {recipient}: {tally.changed} van {tally.decisions} besluiten veranderen")


if __name__ == "__main__":
    main()
