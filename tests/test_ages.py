"""Age as the policies and the disclosure count it (issue 8; issue 9 item 1): the birthday
on the Dutch date of reception (Europe/Amsterdam), 29 February, a birth date over a given
age; and the birth dates a melding may not carry (after that date, more than 120 years
before it), refused without echoing them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.common import facts
from services.common.facts import policy_facts
from services.common.models import Melding
from services.policy.engine import build_input
from services.sharing import minimise
from tests.test_facts import SCENARIOS, marker_melding, scenario_melding


def on(received_at: str, **victim: object) -> int | None:
    data = marker_melding().model_dump(mode="json")
    data["received_at"] = received_at
    data["victim"] = {"birth_date": None, "age": None, **victim}
    return policy_facts(Melding.model_validate(data)).victim.age


@pytest.mark.parametrize(
    ("received_at", "birth_date", "age"),
    [
        ("2026-03-02T09:30:00Z", "2008-03-02", 18),  # 18 on the day: adult
        ("2026-03-02T09:30:00Z", "2008-03-03", 17),  # one day short
        ("2026-03-02T09:30:00Z", "2008-02-10", 18),  # an earlier month has passed
        ("2026-02-28T12:00:00Z", "2008-02-29", 17),  # 29 February: not yet on 28 February
        ("2026-03-01T00:00:00Z", "2008-02-29", 18),  # ... but on 1 March
        ("2028-02-29T08:00:00Z", "2008-02-29", 20),  # and on the day in a leap year
        ("2026-03-02T00:30:00+02:00", "2008-03-02", 17),  # 23:30 on 1 March in Amsterdam
        ("2026-03-01T23:30:00-01:00", "2008-03-02", 18),  # 01:30 on 2 March in Amsterdam
        ("2026-03-02T09:30:00", "2008-03-02", 18),  # naive: taken as UTC
        # The example, summer time (UTC+2): 00:30 on 15 June in Amsterdam.
        ("2026-06-14T22:30:00Z", "2008-06-15", 18),
        ("2026-06-14T21:59:59Z", "2008-06-15", 17),  # 23:59:59 on 14 June
        # Winter time (UTC+1): 00:30 on 2 March in Amsterdam, still 1 March in UTC.
        ("2026-03-01T23:30:00Z", "2008-03-02", 18),
        ("2026-03-01T22:59:59Z", "2008-03-02", 17),  # 23:59:59 on 1 March
        ("2026-02-28T23:30:00Z", "2008-02-29", 18),  # 1 March in Amsterdam: 29 Feb counts
    ],
)
def test_age_on_the_dutch_date_of_received_at(received_at: str, birth_date: str, age: int) -> None:
    assert on(received_at, birth_date=birth_date) == age


def test_one_age_rule_for_the_policies_and_the_disclosure() -> None:
    assert minimise.age_on is facts.age_on


def birth_date_errors(received_at: str, birth_date: str) -> list[tuple[object, ...]]:
    data = marker_melding().model_dump(mode="json")
    data["received_at"] = received_at
    data["victim"]["birth_date"] = data["suspects"][1]["birth_date"] = birth_date
    try:
        Melding.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        assert birth_date not in str(exc)  # the date itself is not echoed
        return [(*e["loc"], e["type"], e["msg"]) for e in errors]
    return []


def test_birth_date_after_the_dutch_date_of_reception_is_refused() -> None:
    # 00:30 on 15 June in Amsterdam: born that day is possible, born the next day is not.
    assert birth_date_errors("2026-06-14T22:30:00Z", "2026-06-15") == []
    assert birth_date_errors("2026-06-14T22:30:00Z", "2026-06-16") == [
        ("victim", "birth_date", "birth_date_in_future",
         "geboortedatum ligt na de datum van de melding"),
        ("suspects", 1, "birth_date", "birth_date_in_future",
         "geboortedatum ligt na de datum van de melding"),
    ]  # fmt: skip


def test_birth_date_more_than_120_years_before_the_melding_is_refused() -> None:
    assert birth_date_errors("2026-06-14T22:30:00Z", "1907-06-15") == []  # 119 years
    assert birth_date_errors("2026-06-14T22:30:00Z", "1906-06-15") == []  # 120 on the day
    refused = birth_date_errors("2026-06-14T22:30:00Z", "1905-06-15")  # 121 years
    assert [error[:-1] for error in refused] == [
        ("victim", "birth_date", "birth_date_too_old"),
        ("suspects", 1, "birth_date", "birth_date_too_old"),
    ]
    assert refused[0][-1] == "geboortedatum ligt meer dan 120 jaar voor de datum van de melding"
    assert birth_date_errors("2026-06-14T22:30:00Z", "1906-06-14") != []  # a day too many


def test_given_age_counts_without_birth_date() -> None:
    assert on("2026-03-02T09:30:00Z", age=16) == 16
    assert on("2026-03-02T09:30:00Z") is None


def test_birth_date_wins_over_given_age() -> None:
    assert on("2026-03-02T09:30:00Z", birth_date="2001-05-14", age=12) == 24


def test_age_is_on_received_at_not_on_the_request() -> None:
    melding = scenario_melding(SCENARIOS[3])  # born 2010-01-20, received 2026-03-02
    later = build_input(melding, "veilig_thuis", requested_at=datetime(2040, 1, 1, tzinfo=UTC))
    assert later["melding"]["victim"]["age"] == 16
    assert later["melding"]["received_at"] == "2026-03-02T09:30:00Z"
    assert later["context"] == {"requested_at": "2040-01-01T00:00:00Z"}
