"""A consumer believes an event only from the service that owns its topic.

Every record a service publishes carries an Ed25519 signature by that service's own event
key over the topic, the record key and the exact value bytes (headers `kmt-signer` and
`kmt-signature`). Before any handler sees a record, the consumer checks that the signer is
the owner of the topic and that the signature holds; otherwise the record is malformed and
goes to the dead-letter topic. So a principal that may write to a topic (or a foothold on
the network) cannot make a service act on an event that service did not get from its owner,
and a signed event replayed under another key or on another topic no longer verifies.
The signature covers the record header `traceparent` too, when there is one (the trace a
melding's steps are logged under, see `services.observability.tracing`): a record whose
trace context was added, changed or stripped no longer verifies.

Keys: `<keys_dir>/<service>/event-key.json` (private, 0600) and the public keys of all
services in `<keys_dir>/public/event-keys.json`, which every consumer reads.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.bus.principals import LIFECYCLE, SERVICES
from services.common import topics
from services.common.events import MalformedEvent
from services.common.keys import KeyMaterialMissing, load_or_create_secret, write_private_json
from services.common.settings import Settings

EVENT_KEY_FILE = "event-key.json"
PUBLIC_DIR = "public"
EVENT_PUBLIC_FILE = "event-keys.json"
SIGNER_HEADER = "kmt-signer"
SIGNATURE_HEADER = "kmt-signature"
TRACEPARENT_HEADER = "traceparent"
_CONTEXT = b"kmt-event-v1"

OWNERS: dict[str, str] = {
    topics.MELDINGEN: "intake",
    topics.DECISIONS: "routing",
    topics.POLICY: "routing",
    topics.POLICY_SWITCHES: "policy",
    topics.ALERTS: "routing",
    topics.DISCLOSURES: "sharing",
    topics.AUDIT_RECEIPTS: "audit",
    topics.STATUS: "audit",
}
"""Who may sign the events of a topic; the dead-letter topic takes any service's."""

Headers = Sequence[tuple[str, bytes]]


def _message(topic: str, key: bytes | None, value: bytes, traceparent: bytes | None) -> bytes:
    parts = (_CONTEXT, topic.encode(), key or b"", value)
    # appended only when present, so a record without trace context signs as it always did
    return b"\0".join(
        parts if traceparent is None else (*parts, TRACEPARENT_HEADER.encode(), traceparent)
    )


@dataclass(frozen=True)
class EventSigner:
    service: str
    key: Ed25519PrivateKey

    def headers(
        self, topic: str, key: bytes | None, value: bytes, traceparent: str | None = None
    ) -> list[tuple[str, bytes]]:
        trace = traceparent.encode() if traceparent else None
        signature = self.key.sign(_message(topic, key, value, trace))
        signed = [
            (SIGNER_HEADER, self.service.encode()),
            (SIGNATURE_HEADER, base64.urlsafe_b64encode(signature)),
        ]
        return signed if trace is None else [*signed, (TRACEPARENT_HEADER, trace)]


@dataclass(frozen=True)
class EventVerifier:
    prefix: str
    public_keys: dict[str, Ed25519PublicKey]

    def verify(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> str:
        """The signing service; `MalformedEvent` naming what is wrong otherwise."""
        wanted = (SIGNER_HEADER, SIGNATURE_HEADER, TRACEPARENT_HEADER)
        found = {name: raw for name, raw in headers if name in wanted}
        if SIGNER_HEADER not in found or SIGNATURE_HEADER not in found:
            raise MalformedEvent("niet ondertekend: geen kmt-signer/kmt-signature")
        signer = found[SIGNER_HEADER].decode(errors="replace")
        owner = OWNERS.get(topic.removeprefix(self.prefix))
        if owner is not None and signer != owner:
            raise MalformedEvent(f"ondertekend door {signer!r}, maar dit topic is van {owner!r}")
        public = self.public_keys.get(signer)
        if public is None:
            raise MalformedEvent(f"onbekende ondertekenaar {signer!r}")
        try:
            signature = base64.urlsafe_b64decode(found[SIGNATURE_HEADER])
            trace = found.get(TRACEPARENT_HEADER)
            public.verify(signature, _message(topic, key, value or b"", trace))
        except Exception:  # bad base64 or a signature that does not hold
            raise MalformedEvent(f"handtekening van {signer!r} klopt niet") from None
        return signer


def event_key_file(keys_dir: Path, service: str) -> Path:
    return keys_dir / service / EVENT_KEY_FILE


def load_signer(settings: Settings, service: str) -> EventSigner:
    """The service's own event key; never made up here (nobody would trust a new one)."""
    path = event_key_file(settings.keys_dir, service)
    if not path.exists():
        raise KeyMaterialMissing(
            f"eventsleutel van {service} ontbreekt ({path}): kmt keys generate"
        )
    seed = load_or_create_secret(path, "ed25519_seed")
    return EventSigner(service, Ed25519PrivateKey.from_private_bytes(seed))


def load_verifier(settings: Settings) -> EventVerifier:
    path = settings.keys_dir / PUBLIC_DIR / EVENT_PUBLIC_FILE
    if not path.exists():
        raise FileNotFoundError(f"publieke eventsleutels ontbreken ({path}): kmt keys generate")
    stored = json.loads(path.read_text())
    return EventVerifier(
        prefix=settings.topic_prefix,
        public_keys={
            service: Ed25519PublicKey.from_public_bytes(base64.b64decode(raw))
            for service, raw in stored.items()
        },
    )


def generate_event_keys(keys_dir: Path) -> list[str]:
    """Create each service's event key where missing and publish every public half."""
    public: dict[str, str] = {}
    created = []
    for service in (*SERVICES, LIFECYCLE):
        path = event_key_file(keys_dir, service)
        if not path.exists():
            created.append(f"{service}/{EVENT_KEY_FILE}")
        seed = load_or_create_secret(path, "ed25519_seed")
        raw = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        public[service] = base64.b64encode(
            raw.public_bytes(Encoding.Raw, PublicFormat.Raw)
        ).decode()
    target = keys_dir / PUBLIC_DIR / EVENT_PUBLIC_FILE
    if not target.exists() or json.loads(target.read_text()) != public:
        write_private_json(target, public)
        created.append(f"{PUBLIC_DIR}/{EVENT_PUBLIC_FILE}")
    return created
