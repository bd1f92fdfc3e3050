"""Asking the sharing policies (`policies/`, package `kmt.sharing`) for decisions.

One input builder, two engines with the same policies and the same answer. The input
carries the melding's facts (`services/routing/facts.py`), never identities or free text.
`PolicyEngine` asks a running OPA server (routing, and `kmt decide` with `KMT_OPA_URL`);
`OneShotEngine` runs `opa eval` on a freshly built bundle (`kmt decide` without a server).
`decide_all` asks once per melding for the three recipients together (rule `decisions`, one
HTTP request or one `opa eval`) and checks each of the three decisions by the contract: one
that breaks it refuses the whole set.
Neither ever makes up a decision: whatever goes wrong raises `PolicyUnavailable`. An engine
that does not answer is `PolicyUnreachable` (an outage: consumers wait for it); an answer
that breaks the decision contract is `PolicyContractBroken` (retried for a bounded time,
then dead-lettered). Policy data that would break every decision is refused when the bundle
is built (`check_policy_data`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from opa_client.opa_async import AsyncOpaClient
from pydantic import ValidationError

from services.common.durations import add_duration
from services.common.events import Outage
from services.common.facts import PolicyFacts, in_utc, policy_facts
from services.common.models import MELDING_PATHS, RECIPIENTS, Decision, Melding

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"


def find_opa_binary() -> str | None:
    """`KMT_OPA_BIN`, else the one `make provision` built into `.cache/bin`, else PATH."""
    explicit = os.environ.get("KMT_OPA_BIN")
    if explicit:
        return explicit
    local = REPO / ".cache" / "bin" / "opa"
    return str(local) if local.exists() else shutil.which("opa")


PACKAGE = "kmt/sharing"
RULE = "decision"
ALL_RULE = "decisions"
CONFIG = "kmt/config/data.json"
RETENTION_PREFIX = "retention:"


class PolicyUnavailable(Exception):
    """No decision could be had from the policy engine; try again later (never allow)."""


class PolicyUnreachable(PolicyUnavailable, Outage):
    """The policy engine did not answer at all: wait for it, however long."""


class PolicyContractBroken(PolicyUnavailable):
    """The policy answered, but not with a decision by the contract (DESIGN.md): treated as
    no decision at all, never as an allow."""


Asked = Melding | PolicyFacts
"""What an engine decides on: a melding's facts, or a whole melding that it projects first
(`kmt decide`, the scenarios); routing has only the facts from the event."""


class Engine(Protocol):
    async def decide(self, melding: Asked, recipient: str) -> Decision: ...

    async def decide_all(self, melding: Asked) -> list[Decision]: ...

    async def close(self) -> None: ...


def _rfc3339(moment: datetime) -> str:
    return in_utc(moment).isoformat().replace("+00:00", "Z")


def build_input(
    melding: Asked, recipient: str | tuple[str, ...], requested_at: datetime | None = None
) -> dict[str, Any]:
    """The policy input for one `recipient` (rule `decision`), or for several (`recipients`,
    rule `decisions`). Its `melding` holds only the facts the policies read
    (`policy_facts`): never identities or free text."""
    projected = melding if isinstance(melding, PolicyFacts) else policy_facts(melding)
    facts = projected.model_dump(mode="json")
    moment = requested_at if requested_at is not None else datetime.now(UTC)
    asked = (
        {"recipient": recipient} if isinstance(recipient, str) else {"recipients": list(recipient)}
    )
    return {"melding": facts, **asked, "context": {"requested_at": _rfc3339(moment)}}


def _to_decision(result: Any, recipient: str) -> Decision:
    """The policy's answer as a `Decision` for `recipient`, or `PolicyUnavailable`: never a
    guess. Strictly typed (an `allow` of "true" or 1 is no boolean), for the recipient that
    was asked, and an allow names a purpose and a legal basis."""
    if result is None:
        raise PolicyUnavailable("het beleid gaf geen besluit (undefined); is de bundel geladen?")
    try:
        decision = Decision.model_validate(result, strict=True)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        raise _broken(recipient, f"ongeldig besluit ({', '.join(fields)})") from None
    if decision.recipient != recipient:
        raise _broken(recipient, f"besluit voor een andere ontvanger ({decision.recipient})")
    if decision.allow and not (decision.legal_basis and (decision.purpose or "").strip()):
        raise _broken(recipient, "toestemming zonder doel of grondslag")
    outside = sorted(set(decision.fields) - MELDING_PATHS)
    if outside:
        raise _broken(recipient, f"veld buiten het meldingschema ({', '.join(outside)})")
    unreadable = [o for o in decision.obligations if not _readable_obligation(o)]
    if unreadable:
        raise _broken(recipient, f"onleesbare verplichting ({', '.join(unreadable)})")
    return decision


def _to_decisions(result: Any) -> list[Decision]:
    """The answer of rule `decisions` as one `Decision` per recipient, in the order of
    `RECIPIENTS`, each checked as `_to_decision` checks one; any one missing or breaking the
    contract refuses them all."""
    if result is None:
        raise PolicyUnavailable("het beleid gaf geen besluiten (undefined); is de bundel geladen?")
    if not isinstance(result, dict):
        raise _broken("alle ontvangers", "geen besluit per ontvanger")
    missing = [recipient for recipient in RECIPIENTS if recipient not in result]
    if missing:
        raise _broken(", ".join(missing), "geen besluit")
    return [_to_decision(result[recipient], recipient) for recipient in RECIPIENTS]


def _readable_obligation(obligation: str) -> bool:
    """A `retention:` obligation carries a duration sharing and audit can read."""
    if not obligation.startswith(RETENTION_PREFIX):
        return True
    return is_duration(obligation.removeprefix(RETENTION_PREFIX))


def is_duration(text: object) -> bool:
    """Whether `text` is an ISO 8601 duration that `add_duration` reads (and that stays
    within the calendar from today)."""
    if not isinstance(text, str):
        return False
    try:
        add_duration(datetime.now(UTC), text)
    except ValueError:
        return False
    return True


def _broken(recipient: str, what: str) -> PolicyContractBroken:
    message = f"beleid brak het besluitcontract voor {recipient}: {what}"
    log.warning("%s", message)  # names keys and recipients, never melding data
    return PolicyContractBroken(message)


async def decide_all(engine: Engine, melding: Asked) -> list[Decision]:
    """The decisions for every recipient, in the order of `RECIPIENTS`: all three, or none."""
    return await engine.decide_all(melding)


class PolicyEngine:
    """Decisions from a running OPA server (e.g. `KMT_OPA_URL=http://127.0.0.1:8181`), over
    one HTTP session whose connections are kept alive."""

    def __init__(self, url: str, timeout: float = 5.0, retries: int = 1) -> None:
        parts = urlsplit(url)
        if parts.hostname is None or parts.path.strip("/"):
            raise ValueError("OPA-URL moet de vorm http(s)://host[:poort] hebben")
        https = parts.scheme == "https"
        self._client = AsyncOpaClient(
            host=parts.hostname,
            port=parts.port or (443 if https else 80),
            ssl=https,
            timeout=timeout,
            retries=retries,
        )
        self._started = False

    async def decide(self, melding: Asked, recipient: str) -> Decision:
        return _to_decision(await self._query(RULE, build_input(melding, recipient)), recipient)

    async def decide_all(self, melding: Asked) -> list[Decision]:
        return _to_decisions(await self._query(ALL_RULE, build_input(melding, RECIPIENTS)))

    async def _query(self, rule: str, input_data: dict[str, Any]) -> Any:
        if not self._started:
            self._started = True
            await self._client.__aenter__()  # opens the client's HTTP session
        try:
            answer = await self._client.query_rule(
                input_data=input_data, package_path=PACKAGE, rule_name=rule
            )
        except aiohttp.ClientResponseError as exc:
            raise PolicyUnavailable(f"OPA antwoordde met HTTP {exc.status}") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PolicyUnreachable(f"OPA niet bereikbaar ({type(exc).__name__})") from None
        return answer.get("result")

    async def close(self) -> None:
        if self._started:
            await self._client.close_connection()
            self._started = False


class OneShotEngine:
    """Decisions from `opa eval` on a bundle built from `policies_dir`, one process each."""

    def __init__(self, policies_dir: Path, opa_binary: str) -> None:
        self._opa = opa_binary
        self._tmp = tempfile.TemporaryDirectory(prefix="kmt-bundle-")
        self._bundle = Path(self._tmp.name) / "bundle"
        write_bundle(policies_dir, self._bundle)

    async def decide(self, melding: Asked, recipient: str) -> Decision:
        return _to_decision(await self._eval(RULE, build_input(melding, recipient)), recipient)

    async def decide_all(self, melding: Asked) -> list[Decision]:
        return _to_decisions(await self._eval(ALL_RULE, build_input(melding, RECIPIENTS)))

    async def _eval(self, rule: str, input_data: dict[str, Any]) -> Any:
        stdin = json.dumps(input_data).encode()
        try:
            process = await asyncio.create_subprocess_exec(
                self._opa, "eval", "--format", "json", "--bundle", str(self._bundle),
                "--stdin-input", f"data.{PACKAGE.replace('/', '.')}.{rule}",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            raise PolicyUnreachable(f"opa niet te starten ({type(exc).__name__})") from None
        out, _ = await process.communicate(stdin)
        if process.returncode != 0:
            raise PolicyUnavailable(f"opa eval mislukte (exit {process.returncode})")
        try:
            results = json.loads(out).get("result") or [{}]
        except ValueError:
            raise PolicyUnavailable("opa eval gaf geen JSON") from None
        expressions = results[0].get("expressions") or [{}]
        return expressions[0].get("value")

    async def close(self) -> None:
        self._tmp.cleanup()


def _policy_files(policies_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in policies_dir.rglob("*")
        if path.is_file()
        and path.suffix in {".rego", ".json"}
        and not path.name.endswith("_test.rego")
    )


def policy_digest(policies_dir: Path) -> str:
    """SHA-256 (hex) of the sorted relative paths and contents of the served files."""
    digest = hashlib.sha256()
    for path in _policy_files(policies_dir):
        digest.update(path.relative_to(policies_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def policy_revision(policies_dir: Path) -> str:
    """`sha256:` + the first 16 hex of `policy_digest`: the policy version's id."""
    return f"sha256:{policy_digest(policies_dir)[:16]}"


class PolicyDataInvalid(ValueError):
    """Policy data the services could not act on; the bundle is not built or served."""


def check_policy_data(policies_dir: Path) -> None:
    """Refuse, before anything is served, configured values that would fail later on every
    melding: per recipient a readable `retention` duration, a purpose and a legal basis
    (policies/kmt/config/config_test.rego checks the same in `opa test`)."""
    path = policies_dir / CONFIG
    if not path.exists():
        return  # no policy data at all: OPA answers undefined, which is PolicyUnavailable
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PolicyDataInvalid(f"{CONFIG}: geen geldige JSON") from None
    recipients = config.get("recipients") if isinstance(config, dict) else None
    problems = []
    for recipient in RECIPIENTS:
        conf = recipients.get(recipient) if isinstance(recipients, dict) else None
        if not isinstance(conf, dict):
            problems.append(f"recipients.{recipient} ontbreekt")
            continue
        retention = conf.get("retention")
        if not is_duration(retention):
            problems.append(f"recipients.{recipient}.retention is geen ISO 8601-duur")
        purpose = conf.get("purpose")
        if not isinstance(purpose, str) or not purpose.strip():
            problems.append(f"recipients.{recipient}.purpose ontbreekt")
        basis = conf.get("legal_basis")
        if not isinstance(basis, list) or not basis or not all(isinstance(b, str) for b in basis):
            problems.append(f"recipients.{recipient}.legal_basis ontbreekt")
    if problems:
        raise PolicyDataInvalid(f"{CONFIG}: {'; '.join(problems)}")


def write_bundle(policies_dir: Path, out_dir: Path) -> str:
    """(Re)create `out_dir` as the served bundle of `policies_dir`; returns its revision.
    Policy data that `check_policy_data` refuses raises `PolicyDataInvalid` first."""
    check_policy_data(policies_dir)
    revision = policy_revision(policies_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for path in _policy_files(policies_dir):
        target = out_dir / path.relative_to(policies_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    meta = out_dir / "kmt_meta" / "data.json"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"policy_revision": revision}) + "\n")
    (out_dir / ".manifest").write_text(json.dumps({"revision": revision}) + "\n")
    return revision
