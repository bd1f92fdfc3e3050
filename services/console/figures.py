"""Cijfers (aard en omvang): the year's figures as tables with simple bar charts, and as
CSV. Audit computes them from the ledger and suppresses every count under the threshold
before they leave it; here a suppressed count (null) is shown as "< 5", and one hidden so
that a small one cannot be computed back as "x"."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.console.backend import Api, StaffApi
from services.console.people import Person, role_required
from services.console.render import page, templates

router = APIRouter()
Officer = Annotated[Person, Depends(role_required("privacy_officer"))]
Year = Annotated[int | None, Query(ge=2000, le=2999)]


def shown(count: int | None, threshold: int, secondary: bool = False) -> str:
    """A count as published: "< 5" when it is small, "x" when it is hidden so that a small
    one cannot be computed back from the total."""
    if secondary:
        return "x"
    return f"< {threshold}" if count is None else str(count)


def age(found: dict[str, Any]) -> str:
    """The average age as published: in years, one decimal (Dutch comma), or why not."""
    average = found["gemiddelde"]
    if average is None:
        return "niet getoond (te weinig leeftijden bekend)"
    return f"{average:.1f} jaar".replace(".", ",")


templates.env.globals["shown"] = shown
templates.env.globals["age"] = age


async def year_figures(staff: StaffApi, who: Person, year: int) -> dict[str, Any]:
    found: dict[str, Any] = await staff.json(
        who, "audit", "GET", "/v1/audit/figures", params={"year": year}
    )
    return found


@router.get("/cijfers")
async def figures_page(request: Request, who: Officer, staff: Api, jaar: Year = None) -> Response:
    year = jaar or date.today().year
    found = await year_figures(staff, who, year)
    return page(
        request,
        "figures.html.j2",
        f"Cijfers {year}: aard en omvang",
        who,
        figures=found,
        years=list(range(date.today().year, date.today().year - 6, -1)),
    )


@router.get("/cijfers.csv")
async def figures_csv(who: Officer, staff: Api, jaar: Year = None) -> Response:
    year = jaar or date.today().year
    found = await year_figures(staff, who, year)
    threshold = found["drempel"]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["jaar", "tabel", "categorie", "aantal"])
    writer.writerow([year, "meldingen", "totaal", shown(found["meldingen"], threshold)])
    writer.writerow([year, "personen", "slachtoffers", shown(found["personen"], threshold)])
    ages = found["leeftijd"]
    writer.writerow([year, "leeftijd", "gemiddelde (jaar)", age(ages).removesuffix(" jaar")])
    writer.writerow([year, "leeftijd", "bekend", shown(ages["bekend"], threshold)])
    for name, table in found["tabellen"].items():
        for row in table["rijen"]:
            value = shown(row["aantal"], threshold, row.get("aanvullend", False))
            writer.writerow([year, name, row["categorie"], value])
        total = table["totaal"]
        writer.writerow([year, name, "totaal", shown(total, threshold, total is None)])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="kmt-cijfers-{year}.csv"'},
    )
