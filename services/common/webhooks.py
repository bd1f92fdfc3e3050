"""Outbound webhooks, signed as the Standard Webhooks specification's asymmetric scheme (`v1a`).

A request carries `webhook-id` (the message's id, the same on every retry), `webhook-timestamp`
(Unix seconds of this attempt) and `webhook-signature: v1a,<base64 Ed25519 signature>` over
`<id>.<timestamp>.<body>`. The receiver verifies it with the sender's public key (`whpk_` and
base64, see `public_key_text`) and refuses a timestamp older than a few minutes, so a captured
request cannot be replayed later.

Why Ed25519 and not the spec's HMAC (`v1`): a receiver holds only a public key, so whoever
reads a partner's or the on-call system's configuration still cannot forge KMT's
notifications, and KMT keeps no per-receiver shared secret that could leak from its side.
Each sending service has its own key (`<keys_dir>/<service>/webhook-key.json`): sharing's for
partners, the alerts service's for on-call.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.common.deliveries import DeliveryFailed
from services.common.keys import load_or_create_secret

KEY_FILE = "webhook-key.json"
PUBLIC_PREFIX = "whpk_"
SCHEME = "v1a"
TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 5.0
SENDERS = ("sharing", "alerts")
"""The services that send webhooks, each with its own key."""


class SignatureRefused(ValueError):
    """A webhook request whose signature or timestamp does not hold; says which, in Dutch."""


@dataclass(frozen=True)
class WebhookSigner:
    key: Ed25519PrivateKey

    def headers(self, message_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
        timestamp = str(int(time.time() if now is None else now))
        signature = self.key.sign(_content(message_id, timestamp, body))
        return {
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": f"{SCHEME},{base64.b64encode(signature).decode()}",
            "content-type": "application/json",
        }

    @property
    def public_key_text(self) -> str:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PUBLIC_PREFIX + base64.b64encode(raw).decode()


def _content(message_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


def load_webhook_signer(keys_dir: Path, service: str) -> WebhookSigner:
    """`service`'s webhook key, made on first use (`kmt keys generate` makes it beforehand)."""
    seed = load_or_create_secret(keys_dir / service / KEY_FILE, "ed25519_seed")
    return WebhookSigner(Ed25519PrivateKey.from_private_bytes(seed))


def generate_webhook_keys(keys_dir: Path) -> list[str]:
    """Every sender's webhook key that is missing; returns what it made."""
    made = [f"{s}/{KEY_FILE}" for s in SENDERS if not (keys_dir / s / KEY_FILE).exists()]
    for service in SENDERS:
        load_webhook_signer(keys_dir, service)
    return made


def verify(
    public_key_text: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> str:
    """The message id of a request whose `v1a` signature holds under the sender's public key
    and whose timestamp is recent; `SignatureRefused` otherwise. What a receiver runs."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        raise SignatureRefused("niet ondertekend: webhook-id/-timestamp/-signature ontbreekt")
    if not timestamp.isdigit():
        raise SignatureRefused("webhook-timestamp is geen tijdstip")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > TOLERANCE_SECONDS:
        raise SignatureRefused("webhook-timestamp te oud of in de toekomst (replay?)")
    public = Ed25519PublicKey.from_public_bytes(
        base64.b64decode(public_key_text.removeprefix(PUBLIC_PREFIX))
    )
    for candidate in signatures.split():
        scheme, _, value = candidate.partition(",")
        if scheme != SCHEME:
            continue
        try:
            public.verify(base64.b64decode(value), _content(message_id, timestamp, body))
            return message_id
        except (InvalidSignature, ValueError):
            continue
    raise SignatureRefused("handtekening klopt niet")


async def post_signed(
    client: httpx.AsyncClient, signer: WebhookSigner, url: str, message_id: str, body: bytes
) -> str:
    """POST one attempt; its outcome in words (`HTTP 204`) when the receiver took it (2xx),
    else raises `DeliveryFailed` naming the status or the error type (never the answer's
    text: a receiver's error page is not ours to keep)."""
    try:
        response = await client.post(
            url, content=body, headers=signer.headers(message_id, body), timeout=TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(type(exc).__name__) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"
