"""The bus refuses, by itself, whoever is not meant to be there: no unauthenticated or
plaintext client, no wrong password, and each service principal only its place in the flow
(`services.bus.acls.FLOWS`). Every refusal here is the broker's authorizer, not our code."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from services.bus.acls import FLOWS
from services.bus.client import bus_login
from services.bus.kafka import ensure_topics
from services.bus.principals import ADMIN, SERVICES, user_name
from services.common import topics
from services.common.settings import Settings

pytestmark = pytest.mark.integration
ALL_TOPICS = [spec.name for spec in topics.TOPICS]


@pytest.fixture(scope="module")
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    made = settings_factory()
    asyncio.run(ensure_topics(made))
    return made


async def _can_write(settings: Settings, principal: str, topic: str) -> bool:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=5000,
        **bus_login(settings, principal).aiokafka(),
    )
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic(topic), b"probe", key=b"probe")
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        await producer.stop()


async def _can_read(settings: Settings, principal: str, topic: str, group: str) -> bool:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **bus_login(settings, principal).aiokafka(),
    )
    await consumer.start()
    try:
        consumer.subscribe([settings.topic(topic)])
        for _ in range(16):  # until the group assigned the topic's partitions to us
            await consumer.getmany(timeout_ms=250)
            if consumer.assignment():
                await consumer.commit()
                return True
        # The broker hid the topic from this principal (no Describe): refused as well. The
        # admin sees it, so it is not simply missing.
        assert settings.topic(topic) in await _admin_topics(settings)
        return False
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError):
        return False
    finally:
        await consumer.stop()


async def _admin_topics(settings: Settings) -> list[str]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **bus_login(settings, ADMIN).aiokafka()
    )
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_may_do_exactly_its_place_in_the_flow(
    settings: Settings, service: str
) -> None:
    flow = FLOWS[service]  # type: ignore[index]

    async def table() -> dict[str, tuple[bool, bool]]:
        own_group = settings.group(service)
        return {
            topic: (
                await _can_write(settings, service, topic),
                await _can_read(settings, service, topic, own_group),
            )
            for topic in ALL_TOPICS
        }

    expected = {topic: (topic in flow.writes, topic in flow.reads) for topic in ALL_TOPICS}
    assert asyncio.run(table()) == expected


def test_the_refusals_the_issue_names(settings: Settings) -> None:
    async def check() -> None:
        assert not await _can_read(settings, "intake", topics.MELDINGEN, settings.group("intake"))
        assert not await _can_write(settings, "intake", topics.DECISIONS)
        assert not await _can_write(settings, "routing", topics.AUDIT_RECEIPTS)
        assert not await _can_write(settings, "routing", topics.DISCLOSURES)
        assert not await _can_write(settings, "sharing", topics.DECISIONS)
        assert not await _can_write(settings, "sharing", topics.AUDIT_RECEIPTS)
        assert not await _can_write(settings, "audit", topics.DECISIONS)

    asyncio.run(check())


def test_a_service_cannot_use_another_services_consumer_group(settings: Settings) -> None:
    # sharing may read meldingen, but not in routing's group (it would steal its partitions)
    assert not asyncio.run(
        _can_read(settings, "sharing", topics.MELDINGEN, settings.group("routing"))
    )


async def _bootstrap(settings: Settings, **security: object) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000, **security
    )
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        await admin.close()


def test_no_client_gets_in_without_tls_and_a_valid_password(settings: Settings) -> None:
    login = bus_login(settings, "routing")
    with pytest.raises(KafkaError):  # plaintext on the only listener: no answer
        asyncio.run(_bootstrap(settings, security_protocol="PLAINTEXT"))
    with pytest.raises(KafkaError):  # TLS but no login
        asyncio.run(_bootstrap(settings, security_protocol="SSL", ssl_context=login.ssl_context))
    with pytest.raises(KafkaError):  # someone else's name, a guessed password
        asyncio.run(
            _bootstrap(
                settings,
                **{**login.aiokafka(), "sasl_plain_username": user_name("audit")},
            )
        )
    untrusting = ssl.create_default_context()  # the system CAs do not know the broker
    with pytest.raises((KafkaError, KafkaConnectionError, ssl.SSLError)):
        asyncio.run(_bootstrap(settings, **{**login.aiokafka(), "ssl_context": untrusting}))
