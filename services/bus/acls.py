"""What each principal may do on the bus: exactly its place in the flow, nothing else.

The broker runs `StandardAuthorizer` with `allow.everyone.if.no.acl.found=false`, so
whatever is not granted here is refused by the broker itself. `kmt topics ensure` (as the
admin principal) creates these ACLs with the topics; creating an ACL that exists is a no-op.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest_v1, DescribeAclsRequest
from aiokafka.protocol.api import Request

from services.bus.principals import user_name
from services.common import topics
from services.common.settings import Settings

Operation = Literal["read", "write", "idempotent_write"]
# Kafka's wire codes (org.apache.kafka.common.acl / resource)
_RESOURCE = {"topic": 2, "group": 3, "cluster": 4}
_OPERATION = {"read": 3, "write": 4, "idempotent_write": 12}
_ANY, _LITERAL, _ALLOW, _ANY_HOST = 1, 3, 3, "*"
CLUSTER = "kafka-cluster"


@dataclass(frozen=True)
class Flow:
    """A service's place in the flow: the topics it reads and the topics it writes."""

    reads: tuple[str, ...]
    writes: tuple[str, ...]


FLOWS: dict[str, Flow] = {
    "intake": Flow(reads=(topics.STATUS,), writes=(topics.MELDINGEN, topics.DEAD_LETTER)),
    "routing": Flow(
        reads=(topics.MELDINGEN, topics.POLICY_SWITCHES),
        writes=(topics.DECISIONS, topics.POLICY, topics.ALERTS, topics.DEAD_LETTER),
    ),
    "sharing": Flow(
        reads=(topics.MELDINGEN, topics.DECISIONS, topics.AUDIT_RECEIPTS),
        writes=(topics.DISCLOSURES, topics.DEAD_LETTER),
    ),
    "audit": Flow(
        reads=(
            topics.MELDINGEN,
            topics.DECISIONS,
            topics.DISCLOSURES,
            topics.POLICY,
            topics.ALERTS,
        ),
        writes=(topics.AUDIT_RECEIPTS, topics.STATUS, topics.DEAD_LETTER),
    ),
    "alerts": Flow(reads=(topics.ALERTS,), writes=(topics.DEAD_LETTER,)),
    "policy": Flow(reads=(), writes=(topics.POLICY_SWITCHES,)),
}
"""The README's table of who may do what is this one (a test keeps them equal)."""


@dataclass(frozen=True)
class Grant:
    principal: str
    resource: Literal["topic", "group", "cluster"]
    name: str
    operation: Operation


def service_grants(settings: Settings) -> list[Grant]:
    """Every ACL of the services in this deployment (its topic prefix)."""
    grants: list[Grant] = []
    for service, flow in FLOWS.items():
        user = user_name(service)
        grants += [Grant(user, "topic", settings.topic(t), "read") for t in flow.reads]
        grants += [Grant(user, "topic", settings.topic(t), "write") for t in flow.writes]
        if flow.reads:
            grants.append(Grant(user, "group", settings.group(service), "read"))
        grants.append(Grant(user, "cluster", CLUSTER, "idempotent_write"))
    return grants


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    """CreateAcls (API 30, v1) with many creations in one request."""

    API_KEY = 30

    def __init__(self, grants: Iterable[Grant]) -> None:
        self._creations = [
            (
                _RESOURCE[g.resource],
                g.name,
                _LITERAL,
                f"User:{g.principal}",
                _ANY_HOST,
                _OPERATION[g.operation],
                _ALLOW,
            )
            for g in grants
        ]

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._creations)


async def create_acls(admin: AIOKafkaAdminClient, grants: list[Grant]) -> None:
    """Create the ACLs (idempotent); raises naming the first one the broker refused."""
    if not grants:
        return
    response = await admin._send_to_controller(_CreateAcls(grants))
    for grant, (code, message) in zip(grants, response.creation_responses, strict=True):
        if code != 0:
            raise RuntimeError(f"ACL {grant} niet aangemaakt (Kafka-foutcode {code}: {message})")
    await _until_in_force(admin, grants)


async def _until_in_force(admin: AIOKafkaAdminClient, grants: list[Grant]) -> None:
    """The controller commits ACLs before the broker applies them: wait until the broker
    lists every one, so a service started right after is not refused."""
    wanted = {(_RESOURCE[g.resource], g.name, f"User:{g.principal}", _OPERATION[g.operation])
              for g in grants}  # fmt: skip
    everything = DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ANY)
    for _ in range(100):
        response = await admin._send_request(everything)
        listed = {
            (resource_type, name, principal, operation)
            for resource_type, name, _pattern, acls in response.resources
            for principal, _host, operation, _permission in acls
        }
        if wanted <= listed:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("de broker past de nieuwe ACL's niet binnen 10 s toe")
