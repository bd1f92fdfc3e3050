"""Routing's fast lane on its own (`services.routing.fast_lane`): with no routing worker
running, only intake, an acute melding still gets its signed `alert.raised`, decided by the
real OPA, and an ordinary melding gets none. The lane reads from the end, so it never
raises an alert for what was on the topic before it started."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from services.bus.signing import load_verifier
from services.common import topics
from services.common.events import ALERT_RAISED
from services.common.settings import Settings
from services.routing import fast_lane
from tests.stack import Stack, deployment, eventually, read_events, submission

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def intake_only(
    settings_factory: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with deployment(settings_factory(), tmp_path_factory.mktemp("logs"), "intake") as stack:
        yield stack


def alerted(settings: Settings) -> set[str]:
    events = read_events(settings, topics.ALERTS)
    return {e["subject"] for e in events if e["type"] == ALERT_RAISED}


def test_the_fast_lane_alone_raises_the_alert_of_an_acute_melding(intake_only: Stack) -> None:
    before = intake_only.submit(submission("06.json"))  # acute, before the lane started
    lane = fast_lane.start(intake_only.settings, load_verifier(intake_only.settings), "kmt/routing")
    try:
        time.sleep(3)  # the lane has assigned its partitions and sought to their end
        acute = intake_only.submit(submission("06.json"))
        calm = submission("01.json")
        calm["signals"]["acute_danger"] = False
        ordinary = intake_only.submit(calm)
        eventually(lambda: acute in alerted(intake_only.settings), timeout=30)
    finally:
        lane.stop()
    raised = alerted(intake_only.settings)
    assert ordinary not in raised and before not in raised
