"""The data-subject access report (AVG art. 15): which categories of data went to whom, when,
on which legal basis and for which purpose.

The officer enters a BSN, or a name and birth date; only the keyed pseudonyms are computed
from it, and what was typed is neither stored nor logged.
"""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.audit.entry import Entry
from services.audit.ledger import Ledger, Query
from services.audit.pseudonym import pseudonyms
from services.common.models import elfproef

RECIPIENT_NAMES = {
    "riec": "RIEC Oost-Nederland",
    "gemeente_veiligheid": "veiligheidsmedewerker van de gemeente",
    "veilig_thuis": "Veilig Thuis Twente",
}
CATEGORY_NAMES = {
    "victim.name": "naam",
    "victim.birth_date": "geboortedatum",
    "victim.age": "leeftijd",
    "victim.gender": "geslacht",
    "victim.nationality": "nationaliteit",
    "victim.bsn": "BSN",
    "victim.address": "adres",
    "victim.phone": "telefoonnummer",
    "victim.health_information": "gezondheidsgegevens (bijzonder persoonsgegeven)",
    "victim.pseudonym": "pseudoniem",
    "suspects": "gegevens over verdachten",
    "location": "plaats van uitbuiting",
    "exploitation_forms": "vorm(en) van uitbuiting",
    "municipality": "gemeente",
    "signals.narrative": "beschrijving van de signalen",
    "signals.risk_summary": "samenvatting van de risico's",
    "police_involved": "betrokkenheid van de politie",
    "victim": "gegevens over het slachtoffer",
    "victim.consent": "toestemming van het slachtoffer",
    "location.description": "beschrijving van de plaats van uitbuiting",
    "location.address": "adres van de plaats van uitbuiting",
    "location.business_name": "bedrijfsnaam bij de plaats van uitbuiting",
    "location.kvk_number": "KvK-nummer bij de plaats van uitbuiting",
    "signals": "signalen",
    "signals.acute_danger": "acuut gevaar (ja/nee)",
    "signals.safety_risk": "veiligheidsrisico (ja/nee)",
    "signals.domestic_violence": "huiselijk geweld (ja/nee)",
    "signals.minors_in_household": "minderjarigen in het huishouden (ja/nee)",
    "signals.undermining_indicators": "signalen van ondermijning",
    "case": "gegevens over de casus",
    "case.wgs_designated": "aanwijzing als WGS-casus",
    "reporter": "gegevens over de melder",
    "reporter.type": "soort melder",
    "reporter.organisation": "organisatie van de melder",
    "reporter.partner_id": "partner die meldde",
    "provenance": "herkomst van de gegevens",
    "melding_id": "kenmerk van de melding",
    "received_at": "datum van de melding",
}
DEFERRED = "notify:deferred"
STYLE = (
    "body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #999;padding:.4em .6em;text-align:left;vertical-align:top}"
    "th{background:#eee}.let-op{border-left:4px solid #c60;padding-left:.8em}"
)


class SubjectQuery(BaseModel):
    """Who the request is about: a BSN, or a name with a birth date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bsn: str | None = Field(default=None, pattern=r"^\d{9}$")
    name: str | None = Field(default=None, min_length=1, max_length=500)
    birth_date: date | None = None

    @model_validator(mode="after")
    def _identifies(self) -> SubjectQuery:
        if self.bsn is not None and not elfproef(self.bsn):
            raise ValueError("BSN doorstaat de elfproef niet")
        if self.bsn is None and (self.name is None or self.birth_date is None):
            raise ValueError("geef een BSN, of een naam met een geboortedatum")
        return self

    def pseudonyms(self, key: bytes) -> tuple[str, ...]:
        return pseudonyms(key, bsn=self.bsn, name=self.name, birth_date=self.birth_date)


def access_report(ledger: Ledger, subject_pseudonyms: tuple[str, ...]) -> dict[str, Any]:
    """What was provided about this person: disclosures that were released to a recipient
    (one held for review and rejected, or not yet released, was not provided)."""
    melding_ids = ledger.melding_ids_of(subject_pseudonyms)
    disclosures: dict[str, Entry] = {}
    released: dict[str, str] = {}
    after = -1
    while melding_ids:
        page = ledger.search(Query(melding_ids=melding_ids, after=after, limit=1000))
        for entry in page:
            if entry.type == "disclosure" and entry.disclosure_id:
                disclosures[entry.disclosure_id] = entry
            elif entry.type == "release" and entry.disclosure_id:
                released.setdefault(entry.disclosure_id, entry.recorded_at)
        if len(page) < 1000:
            break
        after = page[-1].seq
    provided = [
        {
            "melding_id": entry.melding_id,
            "recipient": entry.recipient,
            "recipient_name": RECIPIENT_NAMES.get(entry.recipient or "", entry.recipient),
            "municipality": entry.municipality,
            "recorded_at": released[disclosure_id],
            "categories": list(entry.fields),
            "purpose": entry.purpose,
            "legal_basis": list(entry.legal_basis),
            "obligations": list(entry.obligations),
            "seq": entry.seq,
        }
        for disclosure_id, entry in disclosures.items()
        if disclosure_id in released
    ]
    return {
        "meldingen": len(melding_ids),
        "verstrekkingen": provided,
        "informing_deferred": any(
            DEFERRED in disclosures[d].obligations for d in disclosures if d in released
        ),
    }


def _category(path: str) -> str:
    return CATEGORY_NAMES.get(path, path)


def render_html(report: dict[str, Any]) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{escape(p['recorded_at'][:19].replace('T', ' '))} UTC</td>"
        f"<td>{escape(str(p['recipient_name']))}"
        f"{' (' + escape(p['municipality']) + ')' if p['municipality'] else ''}</td>"
        f"<td>{escape(', '.join(_category(c) for c in p['categories']))}</td>"
        f"<td>{escape(str(p['purpose'] or ''))}</td>"
        f"<td>{escape('; '.join(p['legal_basis']))}</td>"
        "</tr>"
        for p in report["verstrekkingen"]
    )
    warning = (
        "<p class='let-op'><strong>Let op:</strong> bij ten minste één verstrekking is het "
        "informeren van de betrokkene uitgesteld (UAVG art. 41). Overleg met de verstrekkende "
        "partij voordat u dit overzicht deelt.</p>"
        if report["informing_deferred"]
        else ""
    )
    body = (
        f"<table><thead><tr><th>Wanneer</th><th>Aan wie</th><th>Welke gegevens</th>"
        f"<th>Doel</th><th>Grondslag</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else "<p>Er zijn geen gegevens over deze persoon aan anderen verstrekt.</p>"
    )
    return (
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'>"
        "<title>Overzicht verstrekkingen (AVG art. 15)</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>Overzicht van verstrekte persoonsgegevens</h1>"
        "<p>Dit overzicht laat zien welke soorten gegevens het Kenniscentrum Mensenhandel "
        "Twente over deze persoon heeft verstrekt, aan wie, wanneer, met welk doel en op "
        f"welke grondslag. Aantal meldingen over deze persoon: {report['meldingen']}.</p>"
        f"{warning}{body}</body></html>"
    )
