"""The alerts service: reads `alert.raised` (signed by routing) and tells KMT's on-call
channel, by a signed webhook (`KMT_ONCALL_WEBHOOK_URL`) and by e-mail over SMTP
(`KMT_ONCALL_EMAIL_TO`), each a delivery retried with backoff and every attempt recorded
(`services.common.deliveries`, in `data_dir/alerts.db` or the state database). It holds only
its own secrets: its Kafka password, its event key (for dead letters), its webhook key and
the SMTP password."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

import httpx

from services.alerts import notice
from services.bus.consumer import Record
from services.bus.runtime import running_consumer
from services.common.alert_event import AlertRaised
from services.common.deliveries import Deliveries, Delivery, DeliveryFailed, dispatching
from services.common.events import ALERT_RAISED, parse_data, parse_event
from services.common.settings import Settings
from services.common.topics import ALERTS, carried_by
from services.common.webhooks import WebhookSigner, load_webhook_signer, post_signed
from services.observability import health
from services.state.database import open_state

log = logging.getLogger(__name__)
SERVICE = "alerts"
PREFIX = "alert_"
"""Its tables in the state database: `alert_deliveries`, `alert_delivery_attempts`."""
SMTP_PASSWORD_FILE = "smtp.password"


def open_deliveries(settings: Settings) -> Deliveries:
    return Deliveries(open_state(settings, SERVICE), PREFIX, SERVICE)


def recipients(settings: Settings) -> list[str]:
    return [a.strip() for a in settings.oncall_email_to.split(",") if a.strip()]


class Alerts:
    """The handler: one alert in, a kept delivery per configured channel out."""

    def __init__(self, settings: Settings, deliveries: Deliveries) -> None:
        self.settings = settings
        self.deliveries = deliveries

    async def __call__(self, record: Record) -> None:
        accepted = {ALERT_RAISED} & carried_by(record.topic, self.settings.topic_prefix)
        event = parse_event(record.value, set(accepted))
        alert = parse_data(event, AlertRaised)
        kept = notice.body_text(alert, self.settings.staff_url, event.id)
        await asyncio.to_thread(self.keep, str(alert.melding_id), kept)
        log.info("alert %s voor melding %s doorgegeven", event.id, alert.melding_id)

    def keep(self, melding_id: str, kept: str) -> None:
        """A delivery per configured channel, `alert:<melding id>:<channel>` (one alert per
        melding: a redelivered one adds nothing)."""
        channels = {
            "webhook": self.settings.oncall_webhook_url,
            "email": ",".join(recipients(self.settings)),
        }
        give_up = self.settings.webhook_give_up_seconds
        with self.deliveries.db.transaction():
            for channel, target in channels.items():
                if target:
                    self.deliveries.enqueue(
                        f"alert:{melding_id}:{channel}", channel, target, kept, give_up
                    )
        if not any(channels.values()):
            log.error(
                "ALARM alert over %s: geen on-call-kanaal ingesteld (KMT_ONCALL_*)", melding_id
            )


class Channels:
    """The two ways of telling on-call, each one attempt at a time."""

    def __init__(self, settings: Settings, signer: WebhookSigner, client: httpx.AsyncClient):
        self.settings = settings
        self.signer = signer
        self.client = client

    async def webhook(self, delivery: Delivery) -> str:
        return await post_signed(
            self.client, self.signer, delivery.target, delivery.id, delivery.body.encode()
        )

    async def email(self, delivery: Delivery) -> str:
        message = notice.email(
            json.loads(delivery.body), self.settings.oncall_email_from, delivery.target.split(",")
        )
        try:
            await asyncio.to_thread(self._send, message)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {type(exc).__name__}") from None
        return "SMTP 250"

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, smtp_password(s.keys_dir))
            smtp.send_message(message)


def smtp_password(keys_dir: Path) -> str:
    return (keys_dir / SERVICE / SMTP_PASSWORD_FILE).read_text().strip()


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM."""
    deliveries = open_deliveries(settings)
    signer = load_webhook_signer(settings.keys_dir, SERVICE)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with httpx.AsyncClient() as client:
        channels = Channels(settings, signer, client)
        async with (
            dispatching(deliveries, {"webhook": channels.webhook, "email": channels.email}),
            running_consumer(
                settings, SERVICE, [settings.topic(ALERTS)], lambda _: Alerts(settings, deliveries)
            ),
        ):
            await stopping.wait()
    with contextlib.suppress(Exception):
        deliveries.db.close()


def run(settings: Settings) -> None:
    health.serve_side_port(
        settings,
        SERVICE,
        settings.alerts_port,
        {"broker": health.broker(settings), "database": health.database(settings.state_db_url)},
    )
    asyncio.run(serve(settings))
