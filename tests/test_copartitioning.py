"""Two instances of a consumer service split the partitions so that each gets a melding and
everything about it: the same partition numbers of every topic it reads (all are keyed by
melding id, with the same partition count). Round robin once gave sharing's melding to one
instance and its decision to the other; each handled its record in a batch transaction the
other did not yet see, neither processed the decision, and the RIEC never got its
disclosure (`tests/test_multi_instance.py` caught it)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer

from services.bus.consumer import group_consumer
from services.bus.kafka import ensure_topics
from services.common import topics
from services.common.settings import Settings
from services.sharing.worker import consumed_topics

pytestmark = pytest.mark.integration


KEYED_BY_MELDING = (topics.MELDINGEN, topics.DECISIONS, topics.DISCLOSURES,
                    topics.AUDIT_RECEIPTS, topics.ALERTS, topics.STATUS)  # fmt: skip


def test_the_topics_keyed_by_melding_have_the_same_number_of_partitions() -> None:
    counts = {spec.name: spec.partitions for spec in topics.TOPICS}
    assert len({counts[name] for name in KEYED_BY_MELDING}) == 1, counts


async def _assignments(
    settings: Settings, service: str, wanted: list[str]
) -> list[dict[str, set[int]]]:
    members: list[AIOKafkaConsumer] = [group_consumer(settings, service, wanted) for _ in range(2)]
    for member in members:
        await member.start()
    try:
        for _ in range(60):  # until the group has settled on both members
            await asyncio.gather(*(m.getmany(timeout_ms=500) for m in members))
            parts = [m.assignment() for m in members]
            if all(parts) and sum(len(p) for p in parts) == 3 * len(wanted):
                break
        result = []
        for part in parts:
            per_topic: dict[str, set[int]] = defaultdict(set)
            for tp in part:
                per_topic[tp.topic].add(tp.partition)
            result.append(dict(per_topic))
        return result
    finally:
        for member in members:
            await member.stop()


@pytest.mark.parametrize("service", ["sharing", "audit"])
def test_two_instances_each_get_the_same_partitions_of_every_topic(
    settings_factory: Callable[..., Settings], service: str
) -> None:
    settings = settings_factory()
    asyncio.run(ensure_topics(settings))
    wanted = (
        consumed_topics(settings)
        if service == "sharing"
        else [settings.topic(t) for t in (topics.MELDINGEN, topics.DECISIONS, topics.DISCLOSURES)]
    )
    first, second = asyncio.run(_assignments(settings, service, wanted))
    for member in (first, second):
        assert set(member) == set(wanted), member
        assert len({frozenset(p) for p in member.values()}) == 1, member  # co-partitioned
    assert not set(first[wanted[0]]) & set(second[wanted[0]])  # and they do split the work
