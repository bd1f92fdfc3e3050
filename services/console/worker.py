"""The KMT worker's pages: the newest alerts (acute danger, as on-call was told) and the
review queue with acute items on top, both refreshed every few seconds while the page is
open; one item with the facts to decide on, and the verdict with its required reason; a
melding's eerder gemeld. Audit and sharing record every read as this worker before they
answer."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.audit.figures import REPORTERS
from services.audit.report.wording import municipality_name
from services.console.backend import Api, Refused, StaffApi
from services.console.people import Person, role_required
from services.console.render import page, templates
from services.console.sessions import require_csrf

router = APIRouter()
Worker = Annotated[Person, Depends(role_required("kmt_worker"))]
DISCLOSURE_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
VERDICTS = {"approve": "goedgekeurd", "reject": "afgewezen"}
REFRESH_SECONDS = 10
"""How often an open queue page asks again; each time is a read sharing records (per item)."""
SAME = {"victim": "slachtoffer", "suspect": "verdachte", "unknown": "persoon"}
DECISION_WORDS = {"decision": "besluit", "review": "beoordeling", "alert": "acuut gevaar"}
templates.env.filters["same_word"] = lambda role: SAME.get(role, role)
templates.env.filters["reporter_word"] = lambda kind: REPORTERS.get(kind, kind)
templates.env.filters["municipality_name"] = lambda code: municipality_name(code) if code else "—"
templates.env.filters["decision_word"] = lambda kind: DECISION_WORDS.get(kind, kind)


async def melding_page(request: Request, who: Person, staff: StaffApi, melding_id: str) -> Response:
    """A melding as a KMT worker opens it (the on-call alert links here): its items waiting
    for review, and earlier meldingen about the same victim or suspect ("eerder gemeld")."""
    waiting = [i for i in await queue(staff, who) if i["melding_id"] == melding_id]
    try:
        related = await staff.json(who, "audit", "GET", f"/v1/audit/meldingen/{melding_id}/related")
        earlier, missing = related["earlier"], None
    except Refused as exc:
        earlier, missing = [], exc.reason
    return page(
        request,
        "worker_melding.html.j2",
        f"Melding {melding_id}",
        who,
        items=waiting,
        earlier=earlier,
        missing=missing,
    )


async def queue(staff: StaffApi, who: Person) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await staff.json(who, "sharing", "GET", "/v1/reviews")
    return sorted(items, key=lambda i: not i.get("acute", False))  # stable: sharing's order


async def newest_alerts(staff: StaffApi, who: Person) -> list[dict[str, Any]]:
    found = await staff.json(who, "audit", "GET", "/v1/audit/alerts", params={"limit": 10})
    alerts: list[dict[str, Any]] = found["alerts"]
    return alerts


@router.get("/werkvoorraad")
async def reviews(request: Request, who: Worker, staff: Api) -> Response:
    items = await queue(staff, who)
    alerts = await newest_alerts(staff, who)
    done = request.query_params.get("beoordeeld")
    if request.headers.get("HX-Request"):
        context = {"items": items, "alerts": alerts}
        return templates.TemplateResponse(request, "worklist.html.j2", context)
    return page(
        request,
        "reviews.html.j2",
        "Beoordelen",
        who,
        items=items,
        alerts=alerts,
        refresh=REFRESH_SECONDS,
        notice=f"De verstrekking is {VERDICTS[done]}." if done in VERDICTS else None,
    )


@router.get("/werkvoorraad/{disclosure_id}")
async def review_item(request: Request, who: Worker, staff: Api, disclosure_id: str) -> Response:
    item = await _item(staff, who, disclosure_id)
    return page(request, "review.html.j2", "Verstrekking beoordelen", who, item=item, form={})


def checked(disclosure_id: str) -> str:
    """An id as sharing makes them, before it goes into another service's URL."""
    if not DISCLOSURE_ID.fullmatch(disclosure_id):
        raise Refused(404, "Geen disclosure die op beoordeling wacht")
    return disclosure_id


async def _item(staff: StaffApi, who: Person, disclosure_id: str) -> dict[str, Any]:
    checked(disclosure_id)
    found: dict[str, Any] = await staff.json(who, "sharing", "GET", f"/v1/reviews/{disclosure_id}")
    return found


@router.post("/werkvoorraad/{disclosure_id}", dependencies=[Depends(require_csrf)])
async def decide(
    request: Request,
    who: Worker,
    staff: Api,
    disclosure_id: str,
    oordeel: Annotated[Literal["approve", "reject", ""], Form()] = "",
    reden: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    checked(disclosure_id)
    problem = None
    if oordeel not in VERDICTS:
        problem = "Kies: goedkeuren of afwijzen."
    elif not reden.strip():
        problem = "Geef een reden voor uw oordeel; die is verplicht."
    if problem is None:
        try:
            await staff.call(
                who,
                "sharing",
                "POST",
                f"/v1/reviews/{disclosure_id}",
                json={"verdict": oordeel, "reason": reden},
            )
        except Refused as exc:
            problem = exc.reason
        else:
            return RedirectResponse(f"/werkvoorraad?beoordeeld={oordeel}", 303)
    item = await _item(staff, who, disclosure_id)
    return page(
        request,
        "review.html.j2",
        "Verstrekking beoordelen",
        who,
        status=422,
        item=item,
        error=problem,
        form={"oordeel": oordeel, "reden": reden},
    )
