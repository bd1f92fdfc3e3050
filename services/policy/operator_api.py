"""The operator API: the policy lifecycle of `lifecycle.py` over HTTP, for staff of role
`operator` (bearer token, `kmt staff add ID operator`). The token names the actor, so the
four-eyes rules hold as on the command line; a refused step is recorded and answered 409
with the Dutch reason.

It runs as a process of its own (`kmt policy operator-api`), not inside the audit service
or the bundle server: it needs the policy signing key, write access to the version store and
the right to append to the ledger, and neither of those services should hold all three (the
bundle server faces OPA with read-only access to the store; the audit service serves privacy
officers and partners and never signs policy). Only operators reach it.

A proposal carries the candidate's files (path → text; Rego and JSON only, relative paths
without `..`), written to a temporary directory and checked there like `kmt policy propose`.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.audit.backends import open_appender
from services.common.http import documentation, install_error_handlers
from services.common.openapi import problems
from services.common.settings import Settings
from services.common.staff import require_role
from services.keyring.vault import input_key_file
from services.observability import health as probes
from services.observability import metrics
from services.policy.dry_run import DryRunFailed, Report, over_history
from services.policy.engine import find_opa_binary
from services.policy.lifecycle import (
    Lifecycle,
    NotAnnounced,
    Outcome,
    Refused,
    report_document,
    report_sha256,
)

MAX_BODY_BYTES = 2 * 1024 * 1024
NO_HISTORY = (
    "een proefrun kan hier niet: deze dienst houdt de geschiedenis van routing niet; draai"
    " `kmt policy dry-run VERSIE --by NAAM` onder routing (docker compose run --rm"
    " policy-dry-run VERSIE --by NAAM), dan staat de proefrun in de audittrail"
)
FILE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}\.(rego|json)$")
Operator = Annotated[str, Depends(require_role("operator"))]
RevisionId = Annotated[str, PathParam(pattern=r"^sha256:[0-9a-f]{16}$")]


class Proposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=2000)
    files: dict[
        Annotated[str, StringConstraints(pattern=FILE_PATH.pattern)],
        Annotated[str, Field(max_length=512 * 1024)],
    ] = Field(min_length=1, max_length=200)
    """The candidate policy directory: relative path → file text."""


class Step(BaseModel):
    revision: str
    bundle_sha256: str
    seq: int
    """Where the step is in the audit trail."""
    created: bool = True


class DryRun(BaseModel):
    step: Step
    report: dict[str, Any] = Field(
        description="Het rapport zoals `kmt policy dry-run --json` het geeft; de SHA-256 van"
        " deze JSON staat in de audittrail"
    )


class HistoryStep(BaseModel):
    seq: int
    recorded_at: str
    step: str
    actor: str
    revision: str | None
    bundle_sha256: str | None
    reasons: list[str]


class History(BaseModel):
    active: str | None = Field(description="De actieve versie volgens de audittrail")
    steps: list[HistoryStep]


def create_app(settings: Settings, docs: bool = True) -> FastAPI:
    app = FastAPI(title="KMT beleidsbeheer", version="1", **documentation(docs))
    app.state.staff_file = settings.staff_file
    install_error_handlers(app, MAX_BODY_BYTES)
    probes.observe(
        app,
        settings,
        "operator-api",
        {"ledger": lambda: _ledger_reachable(settings), "broker": probes.broker(settings)},
    )

    def run(step: Any, *args: Any) -> Outcome:
        ledger = open_appender(settings)
        result = "failed"
        try:
            outcome: Outcome = step(Lifecycle.of(settings, ledger), *args)
            result = "done"
            return outcome
        except Refused as exc:
            result = "refused"
            raise HTTPException(409, str(exc)) from None
        except NotAnnounced as exc:
            result = "not_announced"
            raise HTTPException(503, f"niet af: {exc}") from None
        finally:
            metrics.POLICY_STEPS.labels(step.__name__, result).inc()
            ledger.close()

    async def answer(step: Any, *args: Any) -> Step:
        outcome = await asyncio.to_thread(run, step, *args)
        version = outcome.version
        return Step(
            revision=version.id,
            bundle_sha256=version.bundle_sha256,
            seq=outcome.seq,
            created=outcome.created,
        )

    @app.get("/health", summary="Gezondheid")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    refused = problems(409)

    @app.post(
        "/v1/policy/proposals",
        status_code=201,
        summary="Dien een beleidsversie in",
        responses=refused,
    )
    async def propose(proposal: Proposal, operator: Operator) -> Step:
        with tempfile.TemporaryDirectory(prefix="kmt-proposal-") as tmp:
            for name, text in proposal.files.items():
                target = Path(tmp) / _relative(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            return await answer(Lifecycle.propose, Path(tmp), proposal.message, operator)

    @app.post(
        "/v1/policy/versions/{revision}/dry-run",
        summary="Proefrun, vastgelegd",
        responses=problems(409, 503),
    )
    async def dry_run_version(revision: RevisionId, operator: Operator) -> DryRun:
        document = await asyncio.to_thread(_dry_run, settings, revision, operator)
        step = await answer(Lifecycle.record_dry_run, revision, report_sha256(document), operator)
        return DryRun(step=step, report=json.loads(document))

    @app.post(
        "/v1/policy/versions/{revision}/approval",
        summary="Keur goed (vier ogen)",
        responses=refused,
    )
    async def approve(revision: RevisionId, operator: Operator) -> Step:
        return await answer(Lifecycle.approve, revision, operator)

    @app.post("/v1/policy/versions/{revision}/activation", summary="Maak actief", responses=refused)
    async def activate(revision: RevisionId, operator: Operator) -> Step:
        return await answer(Lifecycle.activate, revision, operator)

    @app.post(
        "/v1/policy/rollback",
        summary="Terug naar de vorige actieve versie",
        responses=problems(409, 503),
    )
    async def rollback(operator: Operator) -> Step:
        return await answer(Lifecycle.rollback, operator)

    @app.get("/v1/policy/history", summary="Elke stap, uit de audittrail")
    async def history(_: Operator) -> History:
        def read() -> History:
            ledger = open_appender(settings)
            try:
                steps = Lifecycle.of(settings, ledger)
                entries, active = steps.steps(), steps.active()
            finally:
                ledger.close()
            return History(
                active=active,
                steps=[
                    HistoryStep(
                        seq=e.seq,
                        recorded_at=e.recorded_at,
                        step=e.type,
                        actor=e.actor,
                        revision=e.policy_revision,
                        bundle_sha256=e.ciphertext_sha256,
                        reasons=list(e.reasons),
                    )
                    for e in entries
                ],
            )

        return await asyncio.to_thread(read)

    return app


def _ledger_reachable(settings: Settings) -> None:
    """Ready: the ledger store the steps are appended to answers (PostgreSQL or SQLite).
    The bus, to announce activations, is the other check."""
    ledger = open_appender(settings)
    try:
        ledger.size()
    finally:
        ledger.close()


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not FILE_PATH.fullmatch(name) or ".." in path.parts or "" in name.split("/"):
        raise HTTPException(422, f"ongeldig bestandspad {name[:200]!r}: relatief, .rego of .json")
    return path


def _dry_run(settings: Settings, revision: str, operator: str) -> str:
    """The report of a dry run of the stored, proposed `revision`, as JSON text; 503 where
    this process does not hold routing's history key (in compose: `policy-dry-run`)."""
    if not input_key_file(settings.keys_dir).exists():
        raise HTTPException(503, NO_HISTORY)
    ledger = open_appender(settings)
    try:
        version = Lifecycle.of(settings, ledger).check_dry_run(revision, operator)
    except Refused as exc:
        raise HTTPException(409, str(exc)) from None
    finally:
        ledger.close()
    opa = find_opa_binary()
    if opa is None:
        raise HTTPException(503, "OPA niet beschikbaar voor een proefrun")
    try:
        report = over_history(settings, version.bundle, opa, Report(revision, revision))
    except DryRunFailed as exc:
        raise HTTPException(409, str(exc)) from None
    return report_document(report)
