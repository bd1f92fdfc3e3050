"""What tells two stored policy inputs apart beyond their categorical facts, and whether a
candidate policy could decide on it.

A dry run evaluates a candidate once per group of inputs that are equal but for
`PER_MELDING` (`dry_run.py`). That gives the same report as evaluating every melding only if
the candidate's decision cannot depend on those fields; `reads_per_melding_fields` is the
static half of that check: it parses the candidate's Rego (not its tests) with OPA's own
parser and looks for any name or string among `PER_MELDING_NAMES` in it, in a reference
(`input.melding.received_at`), a lookup (`object.get(m, "received_at", …)`) or a variable.
The dynamic half (each group evaluated a second time with its highest id and latest moments,
the answers compared) is in `dry_run._distinct`.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

MELDING_ID = ("melding", "melding_id")
MOMENTS = (("melding", "received_at"), ("context", "requested_at"))
PER_MELDING = {"melding": ("melding_id", "received_at"), "context": ("requested_at",)}
"""Per part of the policy input, the fields that differ per melding: `MELDING_ID` and
`MOMENTS`."""
PER_MELDING_NAMES = frozenset({"context", *(f for fs in PER_MELDING.values() for f in fs)})
NAMES_QUERY = (
    "{v | some name, source in input.modules; walk(rego.parse_module(name, source), [_, node]);"
    ' is_object(node); node.type in {"string", "var"}; v := node.value}'
)


def facts_key(policy_input: dict[str, Any]) -> str:
    """The input without its `PER_MELDING` fields, as canonical JSON."""
    kept = {
        part: {k: v for k, v in value.items() if k not in PER_MELDING[part]}
        if part in PER_MELDING and isinstance(value, dict)
        else value
        for part, value in policy_input.items()
    }
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def reads_per_melding_fields(opa: str, bundle: Path) -> bool:
    """Whether the policy of `bundle` (a directory or a .tar.gz) names any per-melding field
    outside its tests; also True when its modules cannot be parsed (then nothing is assumed)."""
    modules = _modules(bundle)
    result = subprocess.run(
        [opa, "eval", "--format", "raw", "--stdin-input", NAMES_QUERY],
        input=json.dumps({"modules": modules}), capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        names = json.loads(result.stdout) if result.returncode == 0 else None
    except ValueError:
        names = None
    return not isinstance(names, list) or bool(PER_MELDING_NAMES & set(map(str, names)))


def _modules(bundle: Path) -> dict[str, str]:
    def policy(name: str) -> bool:
        return name.endswith(".rego") and not name.endswith("_test.rego")

    if bundle.is_dir():
        return {
            str(path.relative_to(bundle)): path.read_text(encoding="utf-8")
            for path in sorted(bundle.rglob("*.rego"))
            if policy(path.name)
        }
    found = {}
    with tarfile.open(bundle, "r:gz") as archive:
        for member in archive.getmembers():
            source = archive.extractfile(member) if policy(member.name) else None
            if source is not None:
                found[member.name] = source.read().decode("utf-8")
    return found
