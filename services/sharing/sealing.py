"""Sign, then encrypt: a disclosure only its recipient can read and anyone can attribute to KMT.

`seal` makes a compact JWS (EdDSA over Ed25519, `kid` = KMT's signing key) of the canonical
JSON payload and wraps it in a compact JWE (`ECDH-ES+A256KW`, `A256GCM`, `kid` = the
recipient's key). Recipient keys are EC P-256: every mainstream JOSE library (nimbus, jose4j,
panva/jose, go-jose, jwcrypto, joserfc) does ECDH-ES on P-256, while X25519 for JWE
(RFC 8037) is missing from several, and P-256 is what PKIoverheid-style key stores offer.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey

from services.common.keys import SIGNING_ALG

KEY_ALG = "ECDH-ES+A256KW"
CONTENT_ENC = "A256GCM"
RECIPIENT_CURVE = "P-256"
NESTED_CONTENT_TYPE = "JOSE"  # RFC 7516 §4.1.12: the plaintext is a compact JWS


class SealingError(Exception):
    """A disclosure could not be sealed or opened; the message never contains its content."""


def seal(payload: dict[str, Any], *, signing_key: OKPKey, recipient_public_key: ECKey) -> str:
    try:
        signed = jws.serialize_compact(
            {"alg": SIGNING_ALG, "kid": _kid(signing_key)},
            canonical_json(payload),
            signing_key,
            algorithms=[SIGNING_ALG],
        )
        return jwe.encrypt_compact(
            {
                "alg": KEY_ALG,
                "enc": CONTENT_ENC,
                "kid": _kid(recipient_public_key),
                "cty": NESTED_CONTENT_TYPE,
            },
            signed,
            recipient_public_key,
            algorithms=[KEY_ALG, CONTENT_ENC],
        )
    except (JoseError, ValueError) as exc:
        raise SealingError(f"verzegelen mislukt ({type(exc).__name__})") from None


def open_sealed(
    sealed: str, *, recipient_private_key: ECKey | KeySet, kmt_public_keys: KeySet
) -> dict[str, Any]:
    """Decrypt, verify KMT's signature with the key its `kid` names, return the payload.

    `recipient_private_key` may be a set: after rotating its encryption key a partner keeps
    the old one too, for disclosures sealed before; the JWE's `kid` picks the key."""
    try:
        signed = jwe.decrypt_compact(
            sealed, recipient_private_key, algorithms=[KEY_ALG, CONTENT_ENC]
        ).plaintext
    except (JoseError, ValueError) as exc:
        raise SealingError(f"ontsleutelen mislukt ({type(exc).__name__})") from None
    if signed is None:
        raise SealingError("ontsleutelen mislukt (lege inhoud)")
    try:
        kid = jws.extract_compact(signed).headers().get("kid")
        if not isinstance(kid, str):
            raise SealingError("handtekening zonder kid")
        verified = jws.deserialize_compact(
            signed, kmt_public_keys.get_by_kid(kid), algorithms=[SIGNING_ALG]
        )
        payload = json.loads(verified.payload)
    except (JoseError, ValueError) as exc:
        raise SealingError(f"handtekening ongeldig ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise SealingError("inhoud is geen JSON-object")
    return payload


def canonical_json(payload: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same payload always signs the same bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _kid(key: OKPKey | ECKey) -> str:
    key.ensure_kid()
    return str(key.kid)
