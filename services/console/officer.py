"""The privacy officer's pages: search the trail, a melding's timeline, the ledger's state
with `verify` on demand, and the inzageverzoek (AVG art. 15) with its report as HTML and PDF.
Every read goes to audit with the officer's own token and is recorded there."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from services.audit.report.wording import category, recipient
from services.audit.report.wording import legal_basis as basis_text
from services.audit.verify import ACTIVITIES
from services.common.dutch_dates import DUTCH_TIME
from services.common.models import RECIPIENTS
from services.console.backend import Api, Refused
from services.console.people import Person, role_required
from services.console.render import page, templates
from services.console.sessions import require_csrf
from services.console.worker import melding_page

router = APIRouter()
Officer = Annotated[Person, Depends(role_required("privacy_officer"))]
RECIPIENT_CHOICES = [(r, recipient(r, None)) for r in RECIPIENTS]
DECISIONS = {"": "alle", "ja": "delen", "nee": "niet delen"}
TIMELINE = (
    "melding",
    "alert",
    "decision",
    "review",
    "disclosure",
    "release",
    "ack",
    "erasure",
)
PAGE_SIZE = 50

templates.env.filters["activity"] = lambda t: ACTIVITIES.get(t, t)
templates.env.filters["recipient_name"] = lambda r, m=None: recipient(r, m) if r else "—"
templates.env.filters["category"] = category
templates.env.filters["basis"] = lambda c: basis_text(c)[0]


def day_start(day: date | None) -> str | None:
    """Midnight of a Dutch calendar day, as the ISO 8601 moment audit takes."""
    if day is None:
        return None
    return datetime.combine(day, time(0), DUTCH_TIME).isoformat()


@router.get("/trail")
async def trail(
    request: Request,
    who: Officer,
    staff: Api,
    melding: Annotated[str, Query(max_length=36)] = "",
    ontvanger: Annotated[str, Query(max_length=40)] = "",
    grondslag: Annotated[str, Query(max_length=200)] = "",
    van: Annotated[str, Query(max_length=10)] = "",
    tot: Annotated[str, Query(max_length=10)] = "",
    besluit: Annotated[str, Query(max_length=3)] = "",
    soort: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[int, Query(ge=-1)] = -1,
) -> Response:
    searched = any([melding, ontvanger, grondslag, van, tot, besluit, soort]) or cursor >= 0
    entries: list[dict[str, Any]] = []
    next_cursor, error = None, None
    if searched:
        params: dict[str, Any] = {"cursor": cursor, "limit": PAGE_SIZE}
        try:
            if melding:
                params["melding_id"] = str(UUID(melding.strip()))
        except ValueError:
            error = "Een melding-id ziet eruit als 3f2c…-…: 36 tekens met streepjes."
        if ontvanger in RECIPIENTS:
            params["recipient"] = ontvanger
        if grondslag.strip():
            params["legal_basis"] = grondslag.strip()
        if soort in ACTIVITIES:
            params["type"] = soort
        if besluit in ("ja", "nee"):  # a decision's (or a review's) outcome
            params["allow"] = besluit == "ja"
            params.setdefault("type", "decision")
        try:
            if van:
                params["since"] = day_start(date.fromisoformat(van))
            if tot:
                params["until"] = day_start(date.fromisoformat(tot) + timedelta(days=1))
        except ValueError:
            error = "Schrijf een datum als 2026-03-02."
        if error is None:
            try:
                found = await staff.json(who, "audit", "GET", "/v1/audit/entries", params=params)
            except Refused as exc:
                error = exc.reason
            else:
                next_cursor = found["next_cursor"]
                entries = found["entries"]
    query = dict(request.query_params)
    query.pop("cursor", None)
    return page(
        request,
        "trail.html.j2",
        "Audittrail doorzoeken",
        who,
        entries=entries,
        searched=searched,
        error=error,
        next_cursor=next_cursor,
        query=query,
        recipients=RECIPIENT_CHOICES,
        decisions=DECISIONS,
        kinds=sorted(ACTIVITIES.items(), key=lambda item: item[1]),
    )


@router.get("/meldingen/{melding_id}")
async def timeline(
    request: Request,
    who: Annotated[Person, Depends(role_required("privacy_officer", "kmt_worker"))],
    staff: Api,
    melding_id: UUID,
) -> Response:
    """The privacy officer's timeline; a KMT worker (an alert links here) gets the melding's
    review items and earlier meldingen instead."""
    if who.role == "kmt_worker":
        return await melding_page(request, who, staff, str(melding_id))
    found = await staff.json(who, "audit", "GET", f"/v1/audit/meldingen/{melding_id}")
    entries: list[dict[str, Any]] = found["entries"]
    steps = [e for e in entries if e["type"] in TIMELINE]
    reads = [e for e in entries if e["type"] == "audit_access"]
    return page(
        request,
        "timeline.html.j2",
        f"Melding {melding_id}",
        who,
        steps=steps,
        reads=reads,
        melding_id=str(melding_id),
    )


@router.get("/grootboek")
async def ledger(request: Request, who: Officer, staff: Api) -> Response:
    state = await staff.json(who, "audit", "GET", "/v1/audit/ledger")
    return page(request, "ledger.html.j2", "Het grootboek", who, state=state, result=None)


@router.post("/grootboek/controle", dependencies=[Depends(require_csrf)])
async def verify(request: Request, who: Officer, staff: Api) -> Response:
    result = await staff.json(who, "audit", "POST", "/v1/audit/verify")
    if request.headers.get("HX-Request"):
        return templates.TemplateResponse(request, "verify_result.html.j2", {"result": result})
    state = await staff.json(who, "audit", "GET", "/v1/audit/ledger")
    return page(request, "ledger.html.j2", "Het grootboek", who, state=state, result=result)


def subject(bsn: str, naam: str, geboortedatum: str, kenmerk: str) -> dict[str, Any]:
    """What audit's SubjectQuery takes; empty fields left out so audit says what is missing."""
    body: dict[str, Any] = {}
    if bsn.strip():
        body["bsn"] = bsn.strip()
    else:
        if naam.strip():
            body["name"] = naam.strip()
        if geboortedatum.strip():
            body["birth_date"] = geboortedatum.strip()
    if kenmerk.strip():
        body["kenmerk"] = kenmerk.strip()
    return body


Field = Annotated[str, Form(max_length=500)]


def subject_form(
    bsn: Field = "", naam: Field = "", geboortedatum: Field = "", kenmerk: Field = ""
) -> dict[str, str]:
    """The inzageverzoek's fields as the officer filled them in (the form shows them again)."""
    return {"bsn": bsn, "naam": naam, "geboortedatum": geboortedatum, "kenmerk": kenmerk}


SubjectForm = Annotated[dict[str, str], Depends(subject_form)]


@router.get("/inzage")
async def access_form(request: Request, who: Officer) -> Response:
    return page(request, "inzage.html.j2", "Inzageverzoek (AVG art. 15)", who, report=None, form={})


@router.post("/inzage", dependencies=[Depends(require_csrf)])
async def access_report(request: Request, who: Officer, staff: Api, form: SubjectForm) -> Response:
    try:
        report = await staff.json(
            who, "audit", "POST", "/v1/audit/subjects/report", json=subject(**form)
        )
    except Refused as exc:
        return page(
            request,
            "inzage.html.j2",
            "Inzageverzoek (AVG art. 15)",
            who,
            status=exc.status if exc.status < 500 else 502,
            error=exc.reason,
            report=None,
            form=form,
        )
    return page(
        request, "inzage.html.j2", "Inzageverzoek (AVG art. 15)", who, report=report, form=form
    )


@router.post("/inzage/overzicht.{kind}", dependencies=[Depends(require_csrf)])
async def access_download(who: Officer, staff: Api, kind: str, form: SubjectForm) -> Response:
    if kind not in ("pdf", "html"):
        raise Refused(404, "Alleen als PDF of HTML.")
    body = subject(**form)
    answer = await staff.call(who, "audit", "POST", f"/v1/audit/subjects/report.{kind}", json=body)
    media = "application/pdf" if kind == "pdf" else "text/html; charset=utf-8"
    name = answer.headers.get("Content-Disposition", "").split("filename=")[-1].strip('"')
    filename = name or f"inzage.{kind}"
    if not filename.endswith(f".{kind}"):
        filename = f"inzage.{kind}"
    return Response(
        answer.content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "KMT-Aandachtspunten": answer.headers.get("KMT-Aandachtspunten", ""),
        },
    )
