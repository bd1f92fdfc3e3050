"""A partner may register a webhook (`kmt partners webhook ID URL`): when a disclosure for it
is released, sharing tells it so at once, and it fetches then instead of at its next poll.

The notice is committed with the release (one transaction), so a release is never left
without its notice; it is sent signed with sharing's webhook key (Standard Webhooks `v1a`,
`services.common.webhooks`), retried with backoff and every attempt recorded
(`services.common.deliveries`, tables `partner_deliveries` and `partner_delivery_attempts`;
`kmt partners attempts`). It names only what the partner sees anyway: the disclosure's id,
its own `melding_ref` (never KMT's melding id) and where to fetch. The URL is looked up when
sent, so a webhook changed or removed meanwhile counts."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import httpx

from services.common.deliveries import Deliveries, Delivery, DeliveryFailed, dispatching
from services.common.partners import RegistryFile
from services.common.settings import Settings
from services.common.webhooks import load_webhook_signer, post_signed
from services.sharing.outbox import StoredDisclosure
from services.sharing.references import melding_reference, reference_key
from services.state.database import Database, open_state

PREFIX = "partner_"
CHANNEL = "partner_webhook"


def open_notices(settings: Settings) -> Deliveries:
    """The partner notices in sharing's state database (for `kmt partners attempts`)."""
    return Deliveries(open_state(settings, "sharing"), PREFIX, "sharing")


class PartnerNotices:
    def __init__(self, settings: Settings, db: Database, registry: RegistryFile) -> None:
        self.settings = settings
        self.store = Deliveries(db, PREFIX, "sharing")
        self.registry = registry
        self.reference_key = reference_key(settings)

    def released(self, stored: StoredDisclosure) -> None:
        """Keep the notice of a release (in the caller's transaction), if the partner has a
        webhook."""
        partner = self.registry.current().get(stored.partner_id)
        if partner is None or partner.webhook_url is None:
            return
        body = {
            "type": "kmt.disclosure.released",
            "disclosure_id": stored.disclosure_id,
            "melding_ref": melding_reference(
                self.reference_key, stored.melding_id, stored.partner_id
            ),
            "fetch": f"{self.settings.public_url('sharing')}/v1/disclosures",
        }
        self.store.enqueue(
            f"{stored.disclosure_id}:released",
            CHANNEL,
            stored.partner_id,
            json.dumps(body, sort_keys=True),
            self.settings.webhook_give_up_seconds,
        )


@contextlib.asynccontextmanager
async def notifying(settings: Settings, notices: PartnerNotices) -> AsyncIterator[None]:
    """Send the kept notices for the block's duration."""
    signer = load_webhook_signer(settings.keys_dir, "sharing")

    async with httpx.AsyncClient() as client:

        async def send(delivery: Delivery) -> str:
            partner = notices.registry.current().get(delivery.target)
            if partner is None or partner.webhook_url is None:
                raise DeliveryFailed("partner heeft geen webhook (meer)")
            return await post_signed(
                client, signer, partner.webhook_url, delivery.id, delivery.body.encode()
            )

        async with dispatching(notices.store, {CHANNEL: send}):
            yield
