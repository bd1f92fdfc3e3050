"""The access report (AVG art. 15), issue 9 items 17 and 18: it finds a suspect as well as a
victim, lists what was sent, in time order and Dutch time, with municipalities by name, says
what art. 15 requires, hides the policies' markers. Real SQLite ledger, audit API, pypdf."""

from __future__ import annotations

import io
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, OKPKey
from pypdf import PdfReader

from services.audit.api import create_app
from services.audit.entry import Entry
from services.audit.ledger import Ledger, Query
from services.audit.recorder import drafts_of
from services.audit.report.content import CONSULTATIONS, Controller
from services.audit.report.document import DEFAULT_CONTACT
from services.audit.report.wording import MONTHS
from services.audit.sqlite_store import SqliteStore
from services.common.events import DISCLOSURE_CREATED, SHARING_DECIDED, CloudEvent, new_event
from services.common.models import DisclosureCreated, Melding, Reason, SharingDecided
from services.common.partners import new_partner
from services.common.settings import Settings
from services.common.staff import add_member
from services.keyring import generate_all
from services.sharing.outbox import Outbox
from services.sharing.worker import Sharing
from services.state.database import Database
from tests.test_audit_recorder import KEY, OPENER, melding, received_event, record, released
from tests.test_staff_reads import staff_read

ROOT = Path(__file__).resolve().parents[1]
CONTROLLER = Controller(
    name="Kenniscentrum Mensenhandel Twente (KMT)",
    contact="fg@kmt.example, Postbus 1, 7600 AA Almelo",
    retention_days=730,
)
SUSPECT = {"name": "r.  BAKKER", "birth_date": "1996-02-01"}  # as in scenario 01
VICTIM = {"bsn": "111222333"}
RIEC_FIELDS = [
    "exploitation_forms", "municipality", "victim.pseudonym", "victim.gender",
    "suspects", "location.address",
]  # fmt: skip
PURPOSES = {
    "riec": "aanpak ondermijning en daderaanpak (RIEC-convenant)",
    "gemeente_veiligheid": "openbare orde en veiligheid in de gemeente",
    "veilig_thuis": "veiligheidsbeoordeling huiselijk geweld / kindermishandeling",
}
HEADINGS = [
    "Wie verwerkt uw gegevens",
    "Welke gegevens wij hebben verstrekt",
    "Doelen",
    "Inzage door medewerkers van het Kenniscentrum",
    "Ontvangers",
    "Bewaartermijn",
    "Herkomst van de gegevens",
    "Uw rechten",
]
REQUIRED = [
    "Kenniscentrum Mensenhandel Twente (KMT)",  # the controller
    "fg@kmt.example",  # and its contact
    "Doelen",
    "Ontvangers",
    "Bewaartermijn",
    "Herkomst van de gegevens",
    "laten verbeteren (rectificatie",
    "laten wissen",
    "laten beperken",
    "bezwaar te maken",
    "klacht in te dienen bij de Autoriteit Persoonsgegevens",
    "Registratienummer",
]


@dataclass
class Officer:
    client: TestClient
    ledger: Ledger
    token: str

    def report(self, body: dict[str, Any], form: str = "") -> httpx.Response:
        return self.client.post(
            f"/v1/audit/subjects/report{form}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        )


def officer_for(tmp_path: Path, controller: Controller) -> Iterator[Officer]:
    staff = tmp_path / "staff.json"
    token = add_member("fg-1", "privacy_officer", staff)
    ledger = Ledger(SqliteStore(tmp_path / "audit.sqlite3"), Ed25519PrivateKey.generate())
    with TestClient(create_app(ledger, KEY, staff, controller=controller)) as client:
        yield Officer(client, ledger, token)
    ledger.close()


@pytest.fixture
def officer(tmp_path: Path) -> Iterator[Officer]:
    yield from officer_for(tmp_path, CONTROLLER)


def decide(
    m: Melding,
    recipient: Any,
    fields: list[str],
    *,
    legal_basis: tuple[str, ...] = ("AVG art. 6 lid 1 sub e",),
    obligations: tuple[str, ...] = ("retention:P2Y",),
    municipality: Any = "almelo",
) -> CloudEvent:
    decided = SharingDecided(
        melding_id=m.melding_id,
        decided_at=datetime.now(UTC),
        recipient=recipient,
        allow=True,
        purpose=PURPOSES[recipient],
        legal_basis=list(legal_basis),
        fields=fields,
        obligations=list(obligations),
        reasons=[Reason(rule=f"{recipient}.regel", text="Een reden in het Nederlands.")],
        policy_revision="rev-1",
        municipality=municipality,
    )
    return new_event(
        type=SHARING_DECIDED, source="kmt/routing", subject=str(m.melding_id), data=decided
    )


def disclose(decision: CloudEvent, fields: list[str]) -> CloudEvent:
    """`disclosure.created` for `decision`, carrying `fields` (what sharing sealed)."""
    d = SharingDecided.model_validate(decision.data)
    created = DisclosureCreated(
        disclosure_id=uuid.uuid4(),
        decision_event_id=decision.id,
        melding_id=d.melding_id,
        recipient=d.recipient,
        municipality=d.municipality,
        purpose=d.purpose or "",
        legal_basis=d.legal_basis,
        fields=fields,
        obligations=d.obligations,
        policy_revision=d.policy_revision,
        created_at=datetime.now(UTC),
        ciphertext_sha256="ab" * 32,
        jwe="x.y.z.v.w",
    )
    return new_event(
        type=DISCLOSURE_CREATED, source="kmt/sharing", subject=str(d.melding_id), data=created
    )


def release_entries(ledger: Ledger) -> list[Entry]:
    return [e for e in ledger.search(Query(limit=1000)) if e.type == "release"]


def test_a_suspect_is_found_and_told_only_what_concerns_them(officer: Officer) -> None:
    m = melding()
    record(officer.ledger, received_event(m))
    decision = decide(m, "riec", RIEC_FIELDS)
    disclosed = disclose(decision, RIEC_FIELDS)
    for event in (decision, disclosed, released(disclosed)):
        record(officer.ledger, event)

    as_suspect = officer.report(SUSPECT).json()
    assert as_suspect["meldingen"] == 1 and as_suspect["rollen"] == ["verdachte"]
    (provided,) = as_suspect["verstrekkingen"]
    assert provided["recipient_name"] == "RIEC Oost-Nederland"
    # the victim's data are not the suspect's to be told about
    assert provided["categories"] == [
        "exploitation_forms", "municipality", "suspects", "location.address"]  # fmt: skip

    as_victim = officer.report(VICTIM).json()
    assert as_victim["rollen"] == ["slachtoffer"]
    assert "suspects" not in as_victim["verstrekkingen"][0]["categories"]
    assert "victim.pseudonym" in as_victim["verstrekkingen"][0]["categories"]

    # another birth date, or the suspect's name sought as a victim elsewhere: not them
    assert officer.report({**SUSPECT, "birth_date": "1996-02-02"}).json()["meldingen"] == 0
    accesses = [e for e in officer.ledger.search(Query(limit=1000)) if e.type == "audit_access"]
    assert len(accesses) == 3 and all(a.subject_pseudonyms for a in accesses[:2])
    stored = json.dumps([e.as_dict() for e in officer.ledger.search(Query(limit=1000))])
    assert "bakker" not in stored.lower() and "1996-02-01" not in stored


def test_categories_are_those_sealed_not_those_allowed(tmp_path: Path, officer: Officer) -> None:
    """Sharing records in `disclosure.created` what the JWE carries; the report shows that."""
    allowed = ["victim.name", "victim.phone", "victim.health_information",
               "signals.risk_summary", "signals.narrative", "location.kvk_number"]  # fmt: skip
    m = melding().model_copy(update={"victim": melding().victim.model_copy(update={"phone": None})})
    decision = decide(m, "veilig_thuis", allowed)
    settings = Settings(keys_dir=tmp_path / "keys", topic_prefix="t.")
    generate_all(settings.keys_dir)
    partner = new_partner(
        id="veilig-thuis-twente",
        name="Veilig Thuis Twente",
        kind="veilig_thuis",
        auth_key=OKPKey.generate_key("Ed25519").as_dict(private=False),
        encryption_key=dict(ECKey.generate_key("P-256").as_dict(private=False)),
    )
    # making a disclosure needs sharing's settings (its keys) and a store, not its policy
    outbox = Outbox(Database.on_sqlite(tmp_path / "sharing.db"), os.urandom(32))
    stored = Sharing(settings, outbox, None, None).make_disclosure(  # type: ignore[arg-type]
        decision.id, SharingDecided.model_validate(decision.data), m, partner
    )
    created = CloudEvent.model_validate(stored.event)
    # no phone, no health information, an empty risk summary, no location KvK number
    assert created.data["fields"] == ["signals.narrative", "victim.name"]

    for event in (received_event(m), decision, created, released(created)):
        record(officer.ledger, event)
    (provided,) = officer.report(VICTIM).json()["verstrekkingen"]
    assert provided["categories"] == ["signals.narrative", "victim.name"]
    html = officer.report(VICTIM, ".html").text
    assert "telefoonnummer" not in html and "gezondheidsgegevens" not in html


def test_in_time_order_in_dutch_time_with_municipalities_by_name(officer: Officer) -> None:
    m = melding()
    record(officer.ledger, received_event(m))
    riec = disclose(decide(m, "riec", RIEC_FIELDS), RIEC_FIELDS)
    gemeente = disclose(
        decide(m, "gemeente_veiligheid", ["location.address"], municipality="hof_van_twente"),
        ["location.address"],
    )
    # created riec first, but released the gemeente's first
    for event in (riec, gemeente, released(gemeente), released(riec)):
        record(officer.ledger, event)
    first, second = release_entries(officer.ledger)

    report = officer.report(VICTIM).json()
    names = [p["recipient_name"] for p in report["verstrekkingen"]]
    assert names == ["de veiligheidsmedewerker van de gemeente Hof van Twente",
                     "RIEC Oost-Nederland"]  # fmt: skip
    html = officer.report(VICTIM, ".html").text
    assert html.index("Hof van Twente") < html.index("RIEC Oost-Nederland")
    assert "hof_van_twente" not in html and "UTC" not in html
    for entry in (first, second):
        local = datetime.fromisoformat(entry.recorded_at).astimezone(ZoneInfo("Europe/Amsterdam"))
        shown = f"{local.day} {MONTHS[local.month - 1]} {local.year} om {local:%H:%M}"
        assert shown in html
        assert local.isoformat() in {p["released_at"] for p in report["verstrekkingen"]}


class Outline(HTMLParser):
    """The structure of the HTML report: headings, table header and rows, all text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.h1: list[str] = []
        self.h2: list[str] = []
        self.th: list[str] = []
        self.rows = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr" and "tbody" in self.tags:
            self.rows += 1

    def handle_endtag(self, tag: str) -> None:
        while self.tags and self.tags.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.tags and self.tags[-1] in ("h1", "h2", "th"):
            getattr(self, self.tags[-1]).append(data.strip())


def flat(text: str) -> str:
    return " ".join(text.split())


def unconfirmed_case(officer: Officer) -> Melding:
    m = melding()
    record(officer.ledger, received_event(m))
    decision = decide(
        m,
        "veilig_thuis",
        ["victim.name", "victim.health_information"],
        legal_basis=("Wmo 2015 art. 5.2.6", "AVG art. 9 lid 2 sub g (verify)"),
        obligations=("retention:P1Y6M", "notify:deferred"),
    )
    disclosed = disclose(decision, ["victim.name", "victim.health_information"])
    for event in (decision, disclosed, released(disclosed)):
        record(officer.ledger, event)
    return m


def test_the_html_report_says_what_article_15_requires(officer: Officer) -> None:
    unconfirmed_case(officer)
    response = officer.report({**VICTIM, "kenmerk": "AVG-2026/017"}, ".html")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    outline = Outline()
    outline.feed(response.text)
    assert outline.h1 == ["Inzage in uw persoonsgegevens (AVG artikel 15)"]
    assert outline.h2 == HEADINGS
    assert len(outline.th) == 6 and outline.rows == 1
    text = flat(" ".join(outline.text))
    for required in [*REQUIRED, "AVG-2026/017", "1 jaar en 6 maanden", "Veilig Thuis Twente"]:
        assert required in text, required
    assert "AVG art. 9 lid 2 sub g" in text and "verify" not in response.text.lower()
    assert "notify:" not in text and "retention:" not in text and "veilig_thuis" not in text
    # the officer, not the person, is told what to check first
    notes = response.headers["KMT-Aandachtspunten"].split(",")
    assert notes == ["grondslag-onbevestigd", "informeren-uitgesteld"]
    assert "UAVG art. 41" not in text
    officer_json = officer.report(VICTIM).json()
    assert any("AVG art. 9 lid 2 sub g" in n["tekst"] for n in officer_json["aandachtspunten"])


def test_the_pdf_report_reads_back_with_the_same_text(officer: Officer) -> None:
    unconfirmed_case(officer)
    response = officer.report({**VICTIM, "kenmerk": "AVG-2026/017"}, ".pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    reference = officer.report(VICTIM).json()["registratienummer"]  # a later request: its own
    pdf = PdfReader(io.BytesIO(response.content))
    text = flat(" ".join(page.extract_text() for page in pdf.pages))
    for required in [*REQUIRED, *HEADINGS, "AVG-2026/017", "Veilig Thuis Twente",
                     "AVG art. 9 lid 2 sub g", "naam"]:  # fmt: skip
        assert required in text, required
    assert "verify" not in text.lower() and reference not in text
    assert re.search(r"Registratienummer: [0-9a-f-]{36}", text)
    assert "inzage-" in response.headers["content-disposition"]


def test_a_report_with_nothing_found_still_says_who_and_which_rights(officer: Officer) -> None:
    text = flat(officer.report({"bsn": "123456782"}, ".html").text)
    assert "geen meldingen over u geregistreerd" in text
    assert "Autoriteit Persoonsgegevens" in text


def test_without_contact_details_the_officer_is_told(tmp_path: Path) -> None:
    for officer in officer_for(tmp_path, Controller("KMT", "", 730)):
        response = officer.report(VICTIM, ".html")
        assert response.headers["KMT-Aandachtspunten"] == "contact-ontbreekt"
        assert DEFAULT_CONTACT in response.text


def test_what_is_configured_or_typed_is_escaped_or_refused(tmp_path: Path) -> None:
    hostile = Controller("<script>alert(1)</script>", "<img src=x onerror=alert(1)> — 中文", 730)
    for officer in officer_for(tmp_path, hostile):
        html = officer.report(VICTIM, ".html").text
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;" in html
        # the PDF's font has no CJK or dashes: written as near as it can, never a 500
        pdf = officer.report(VICTIM, ".pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        before = len(officer.ledger.search(Query(limit=1000)))
        for kenmerk in ("<b>x</b>", "x" * 65, "", "\u202eevil"):
            refused = officer.report({**VICTIM, "kenmerk": kenmerk})
            assert refused.status_code == 422, kenmerk
        assert len(officer.ledger.search(Query(limit=1000))) == before  # nothing recorded


def test_staff_reads_of_the_subjects_meldingen_say_when_and_why_never_who(
    officer: Officer,
) -> None:
    """Issue 9 item 14: each staff read that showed one of the person's meldingen is told
    once, with its purpose, never which worker it was."""
    mine, also_mine, someone_else = melding(), melding(), str(uuid.uuid4())
    for m in (mine, also_mine):
        record(officer.ledger, received_event(m))
    reads = [
        staff_read(str(mine.melding_id), someone_else),
        staff_read(someone_else),  # showed nothing about them
        staff_read(str(mine.melding_id), str(also_mine.melding_id)),  # one read, two meldingen
    ]
    for read in reads:
        officer.ledger.append_many(drafts_of(read, KEY, OPENER))

    report = officer.report(VICTIM).json()
    assert report["meldingen"] == 2 and report["verstrekkingen"] == []
    assert [c["doel"] for c in report["inzages"]] == [CONSULTATIONS["sharing.reviews"]] * 2
    html = officer.report(VICTIM, ".html").text
    assert "Inzage door medewerkers van het Kenniscentrum" in html
    assert "niet de gegevens zelf" in html
    assert "Om te beoordelen of gegevens over u aan een partner verstrekt mochten worden" in html
    for shown in (json.dumps(report), html):
        assert "kmt-medewerker" not in shown  # who read is in the trail, for the officer
    # a person none of whose meldingen were shown is told so
    assert officer.report({"bsn": "123456782"}).json()["inzages"] == []
