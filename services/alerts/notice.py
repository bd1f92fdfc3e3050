"""What KMT's on-call worker is told of an alert: no personal data, only the melding id, the
alert sentences, minor or not, the municipality, whether the Veilig Thuis disclosure waits
for review (then at the top of the queue, marked acute), and a link to open the melding on
KMT's staff side (`KMT_STAFF_URL`). The same content goes out as the webhook's JSON body and
as the e-mail's text."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from services.common.alert_event import AlertRaised
from services.common.municipalities import MUNICIPALITY_NAMES

MINOR = {True: "ja", False: "nee", None: "onbekend (leeftijd onbekend)"}
VEILIG_THUIS = {
    "direct": "Veilig Thuis krijgt de verstrekking direct (zonder beoordeling).",
    "na_beoordeling": (
        "De verstrekking aan Veilig Thuis wacht op beoordeling: ACUUT, bovenaan de "
        "beoordelingswachtrij. Beoordeel haar nu."
    ),
    "niet": "Het beleid staat geen verstrekking aan Veilig Thuis toe.",
}


def link(staff_url: str, melding_id: str) -> str:
    return f"{staff_url.rstrip('/')}/meldingen/{melding_id}"


def body(alert: AlertRaised, staff_url: str, alert_id: str) -> dict[str, Any]:
    """The webhook's JSON body."""
    melding_id = str(alert.melding_id)
    return {
        "type": "kmt.alert",
        "alert_id": alert_id,
        "melding_id": melding_id,
        "alerts": alert.alerts,
        "minor": alert.minor,
        "municipality": alert.municipality,
        "veilig_thuis": alert.veilig_thuis,
        "review_acute": alert.veilig_thuis == "na_beoordeling",
        "link": link(staff_url, melding_id),
        "raised_at": alert.raised_at.isoformat(),
        "text": text(alert, staff_url),
    }


def body_text(alert: AlertRaised, staff_url: str, alert_id: str) -> str:
    """The body as it is kept and sent (canonical JSON, UTF-8)."""
    return json.dumps(body(alert, staff_url, alert_id), ensure_ascii=False, sort_keys=True)


def text(alert: AlertRaised, staff_url: str) -> str:
    lines = [
        f"Melding {alert.melding_id} vraagt om direct handelen.",
        "",
        *(f"- {sentence}" for sentence in alert.alerts),
        "",
        f"Minderjarig: {MINOR[alert.minor]}",
        f"Gemeente: {MUNICIPALITY_NAMES[alert.municipality]}",
        VEILIG_THUIS[alert.veilig_thuis],
        "",
        f"Openen: {link(staff_url, str(alert.melding_id))}",
    ]
    return "\n".join(lines)


def email(kept: dict[str, Any], sender: str, to: list[str]) -> EmailMessage:
    """The e-mail of a kept body (`body`)."""
    minor = kept["minor"]
    who = "minderjarige" if minor else "leeftijd onbekend" if minor is None else "volwassene"
    where = MUNICIPALITY_NAMES[kept["municipality"]]
    message = EmailMessage()
    message["Subject"] = f"ACUUT GEVAAR ({who}, {where}): melding {kept['melding_id']}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["X-KMT-Melding"] = kept["melding_id"]
    message.set_content(kept["text"])
    return message
