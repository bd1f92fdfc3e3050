"""How a KMT process connects to Kafka: SASL_SSL with SCRAM-SHA-512 as its own principal,
verifying the broker's certificate against the deployment's CA. There is no other way in."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka.helpers import create_ssl_context

from services.bus.principals import read_password, user_name
from services.common.settings import Settings

MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class BusLogin:
    username: str
    password: str
    ssl_context: ssl.SSLContext

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            "ssl_context": self.ssl_context,
        }


def bus_login(settings: Settings, principal: str) -> BusLogin:
    """The login of `principal` (a service name, `admin`, or a test's own principal)."""
    if not settings.kafka_ca_file.exists():
        raise FileNotFoundError(
            f"CA-certificaat van de Kafka-broker ontbreekt ({settings.kafka_ca_file}); "
            "zet KMT_KAFKA_CA_FILE"
        )
    context = create_ssl_context(cafile=str(settings.kafka_ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return BusLogin(
        username=user_name(principal),
        password=read_password(settings.keys_dir, principal),
        ssl_context=context,
    )
