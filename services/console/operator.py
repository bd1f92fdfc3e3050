"""The operator's pages: the policy versions and every lifecycle step as the ledger has them,
a candidate's dry run (the changes that share more on top), and propose / approve / activate /
roll back through the operator API with the operator's own token, so the four-eyes rule is
enforced there and every step and refusal is recorded. The page shows who proposed a version
and who may approve it; a refusal is shown with the API's Dutch reason."""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from services.console.backend import Api, Refused, StaffApi
from services.console.people import Person, role_required
from services.console.render import page
from services.console.sessions import require_csrf

router = APIRouter()
Operator = Annotated[Person, Depends(role_required("operator"))]
Revision = Annotated[str, Form(pattern=r"^sha256:[0-9a-f]{16}$")]
MAX_ARCHIVE = 2 * 1024 * 1024
POLICY_FILES = (".rego", ".json")
STEP_WORDS = {
    "policy_proposed": "ingediend",
    "policy_dry_run": "proefrun",
    "policy_approved": "goedgekeurd",
    "policy_activated": "geactiveerd",
    "policy_rolled_back": "teruggedraaid naar",
    "policy_refused": "geweigerd",
}
DIRECTION_WORDS = {
    "deny_to_allow": "niet delen → delen",
    "fields_added": "meer velden",
    "allow_to_deny": "delen → niet delen",
    "fields_removed": "minder velden",
    "obligations_changed": "andere verplichtingen",
}
DONE = {
    "ingediend": "De versie is ingediend.",
    "goedgekeurd": "De versie is goedgekeurd.",
    "geactiveerd": "De versie is actief; OPA haalt haar bij de volgende poll op.",
    "teruggedraaid": "Teruggedraaid naar de vorige actieve versie.",
}


def versions(history: dict[str, Any]) -> list[dict[str, Any]]:
    """Per revision, newest first: who proposed it, ran a dry run, approved, activated."""
    by: dict[str, dict[str, Any]] = {}
    people: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for step in history["steps"]:
        revision = step["revision"]
        if not revision:
            continue
        found = by.setdefault(revision, {"revision": revision, "first_seq": step["seq"]})
        found["last_at"] = step["recorded_at"]
        actor = str(step["actor"]).removeprefix("staff:")
        if step["step"] != "policy_refused" and actor not in people[revision][step["step"]]:
            people[revision][step["step"]].append(actor)
    for revision, found in by.items():
        steps = people[revision]
        found["proposer"] = next(iter(steps["policy_proposed"]), None)
        found["dry_runs"] = steps["policy_dry_run"]
        found["approvers"] = steps["policy_approved"]
        found["activated"] = bool(steps["policy_activated"] or steps["policy_rolled_back"])
        found["active"] = revision == history["active"]
    return sorted(by.values(), key=lambda v: -int(v["first_seq"]))


@router.get("/beleid")
async def policy(request: Request, who: Operator, staff: Api) -> Response:
    done = request.query_params.get("gedaan", "")
    return await _policy_page(request, who, staff, notice=DONE.get(done))


async def _policy_page(
    request: Request,
    who: Person,
    staff: StaffApi,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    report: dict[str, Any] | None = None,
) -> Response:
    history = await staff.json(who, "operator", "GET", "/v1/policy/history")
    return page(
        request,
        "policy.html.j2",
        "Beleidsversies",
        who,
        status=status,
        error=error,
        notice=notice,
        history=history,
        versions=versions(history),
        steps=list(reversed(history["steps"]))[:50],
        step_words=STEP_WORDS,
        report=report,
        directions=DIRECTION_WORDS,
    )


def policy_files(archive: bytes) -> dict[str, str]:
    """The .rego and .json files of a zip of a policy directory (path → text), the folder
    they share stripped; the operator API checks each path again."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            members = [
                m for m in zipped.infolist() if not m.is_dir() and m.filename.endswith(POLICY_FILES)
            ]
            if sum(m.file_size for m in members) > MAX_ARCHIVE:
                raise Refused(413, "Het beleid is groter dan 2 MB uitgepakt.")
            texts = {m.filename: zipped.read(m).decode("utf-8") for m in members}
    except (zipfile.BadZipFile, UnicodeDecodeError):
        raise Refused(422, "Geen zip-bestand met .rego- en .json-bestanden in UTF-8.") from None
    if not texts:
        raise Refused(422, "Het zip-bestand bevat geen .rego- of .json-bestanden.")
    tops = {PurePosixPath(name).parts[0] for name in texts}
    if len(tops) == 1 and all(len(PurePosixPath(n).parts) > 1 for n in texts):
        return {str(PurePosixPath(*PurePosixPath(n).parts[1:])): t for n, t in texts.items()}
    return texts


@router.post("/beleid/indienen", dependencies=[Depends(require_csrf)])
async def propose(
    request: Request,
    who: Operator,
    staff: Api,
    archief: Annotated[UploadFile, File()],
    toelichting: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        if not toelichting.strip():
            raise Refused(422, "Schrijf waarom u deze versie indient.")
        files = policy_files(await archief.read(MAX_ARCHIVE + 1))
        body = {"message": toelichting.strip(), "files": files}
        await staff.call(who, "operator", "POST", "/v1/policy/proposals", json=body)
    except Refused as exc:
        return await _policy_page(request, who, staff, status=exc.status, error=exc.reason)
    return RedirectResponse("/beleid?gedaan=ingediend", 303)


@router.post("/beleid/proefrun", dependencies=[Depends(require_csrf)])
async def dry_run(request: Request, who: Operator, staff: Api, versie: Revision) -> Response:
    try:
        answer = await staff.json(who, "operator", "POST", f"/v1/policy/versions/{versie}/dry-run")
    except Refused as exc:
        return await _policy_page(request, who, staff, status=exc.status, error=exc.reason)
    return await _policy_page(
        request, who, staff, notice="De proefrun is vastgelegd.", report=answer["report"]
    )


async def _step(request: Request, who: Person, staff: StaffApi, path: str, done: str) -> Response:
    try:
        await staff.call(who, "operator", "POST", path)
    except Refused as exc:
        return await _policy_page(request, who, staff, status=exc.status, error=exc.reason)
    return RedirectResponse(f"/beleid?gedaan={done}", 303)


@router.post("/beleid/goedkeuren", dependencies=[Depends(require_csrf)])
async def approve(request: Request, who: Operator, staff: Api, versie: Revision) -> Response:
    return await _step(request, who, staff, f"/v1/policy/versions/{versie}/approval", "goedgekeurd")


@router.post("/beleid/activeren", dependencies=[Depends(require_csrf)])
async def activate(request: Request, who: Operator, staff: Api, versie: Revision) -> Response:
    return await _step(
        request, who, staff, f"/v1/policy/versions/{versie}/activation", "geactiveerd"
    )


@router.post("/beleid/terugdraaien", dependencies=[Depends(require_csrf)])
async def rollback(request: Request, who: Operator, staff: Api) -> Response:
    return await _step(request, who, staff, "/v1/policy/rollback", "teruggedraaid")
