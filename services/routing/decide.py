"""`kmt decide FILE|-`: the three decisions for one melding, as routing would take them.

Exit 0 with the JSON array of decisions (in the order of RECIPIENTS) on stdout; exit 2 for
invalid input (the paths at fault on stderr, nothing on stdout); exit 3 when no policy
engine can be had. With `KMT_OPA_URL` it asks that OPA server, otherwise `opa eval` runs
once, for all three recipients, on a bundle of `policies/`. It takes a full melding and,
like routing, gives OPA only its facts (`services/routing/facts.py`). Messages never echo
the melding's values.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import typer
from pydantic import ValidationError

from services.common.exits import fail
from services.common.models import Decision, Melding
from services.policy.engine import (
    POLICIES,
    Engine,
    OneShotEngine,
    PolicyDataInvalid,
    PolicyEngine,
    PolicyUnavailable,
    decide_all,
    find_opa_binary,
)

NO_ENGINE = (
    "Geen beleidsengine beschikbaar. Start een OPA-server met de beleidsbundel en zet "
    "KMT_OPA_URL (bijv. http://127.0.0.1:8181), of maak het opa-programma beschikbaar via "
    "KMT_OPA_BIN, .cache/bin/opa (make provision) of PATH."
)
ERROR_TYPES = {
    "missing": "ontbreekt",
    "extra_forbidden": "onbekend veld",
    "literal_error": "geen toegestane waarde",
    "string_pattern_mismatch": "onjuist formaat",
    "too_short": "te weinig waarden",
}


def _path(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "(melding)"


def _message(error: Any) -> str:
    """What is wrong, in Dutch: the validator's own message (ours are Dutch and never echo
    the value), else a Dutch word for pydantic's error type."""
    if error["type"] == "value_error" or error["type"].startswith("birth_date_"):
        return str(error["msg"]).removeprefix("Value error, ")
    return ERROR_TYPES.get(error["type"], "ongeldige waarde")


def _read_melding(file: str) -> Melding:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise fail(
            2, "Kan de invoer niet lezen: geef een leesbaar UTF-8 JSON-bestand of -."
        ) from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(2, f"Geen geldige JSON (regel {exc.lineno}, kolom {exc.colno}).") from None
    if not isinstance(data, dict):
        raise fail(2, "Ongeldige melding:\n  (melding): moet een JSON-object zijn")
    data.setdefault("melding_id", str(uuid4()))
    data.setdefault("received_at", datetime.now(UTC).isoformat())
    try:
        return Melding.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {_path(error['loc'])}: {_message(error)} ({error['type']})"
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise fail(2, "Ongeldige melding:\n" + "\n".join(lines)) from None


def _engine() -> PolicyEngine | OneShotEngine:
    url = os.environ.get("KMT_OPA_URL")
    if url:
        try:
            return PolicyEngine(url)
        except ValueError:
            raise fail(3, f"KMT_OPA_URL is ongeldig. {NO_ENGINE}") from None
    binary = find_opa_binary()
    if binary is None:
        raise fail(3, NO_ENGINE)
    try:
        return OneShotEngine(POLICIES, binary)
    except PolicyDataInvalid as exc:
        raise fail(3, f"Beleidsgegevens geweigerd: {exc}") from None


async def _decide(engine: Engine, melding: Melding) -> list[Decision]:
    try:
        return await decide_all(engine, melding)
    finally:
        await engine.close()


def decide_command(
    file: Annotated[str, typer.Argument(metavar="FILE|-", help="melding.v1 JSON; - voor stdin")],
) -> None:
    """Toon de besluiten voor het RIEC, de gemeente en Veilig Thuis voor één melding."""
    melding = _read_melding(file)
    engine = _engine()
    try:
        decisions = asyncio.run(_decide(engine, melding))
    except PolicyUnavailable as exc:
        raise fail(3, f"{exc}. {NO_ENGINE}") from None
    output = [decision.model_dump(mode="json") for decision in decisions]
    typer.echo(json.dumps(output, ensure_ascii=False, indent=2))
