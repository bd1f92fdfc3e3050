"""The OpenAPI documents describe what the services do (issue 9 item 12): a partner who
generates a client from them meets no status, shape or media type they do not name.

First what the documents must say, read from each app; then schemathesis against the three
running services, and against the operator API (in process, on a real ledger and the real
`opa`), with real partner and staff tokens so it gets past 401: positive and negative
examples, a bounded number per operation, and not one 5xx, not one answer that contradicts
the document, and no answer given to a token that is also given without one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.common.openapi import PARTNER_SCHEME, STAFF_SCHEME
from services.common.problems import MEDIA_TYPE
from services.common.staff import add_member
from services.devstack.paths import REPO
from services.policy.engine import POLICIES, policy_revision
from services.policy.operator_api import create_app as create_operator_api
from tests.stack import Stack, eventually
from tests.test_input_bounds import Services, services  # noqa: F401  (fixture)

STACK_SERVICES = ("intake", "sharing", "audit")
SERVICES = (*STACK_SERVICES, "operator")
"""The documents: the three services' and the operator API's (`kmt policy operator-api`)."""
MELDING = json.loads((REPO / "examples" / "melding.json").read_text())
"""A melding the demo's wijkteam may send; the RIEC gets a disclosure of it."""
RECIPIENT = "riec-oost"
SUBJECT = {"name": "Sanne de Vries", "birth_date": "2001-05-14", "kenmerk": "contract-1"}
ACCEPTED: dict[str, dict[str, Any]] = {
    "POST /v1/meldingen": {"body": MELDING, "headers": {"Idempotency-Key": "contract-1"}},
    "GET /v1/disclosures": {"query": {"cursor": 0}},
    "POST /v1/audit/subjects/search": {"body": SUBJECT},
    "POST /v1/audit/subjects/report": {"body": SUBJECT},
    "POST /v1/audit/subjects/report.html": {"body": SUBJECT},
    "POST /v1/audit/subjects/report.pdf": {"body": SUBJECT},
    "POST /v1/policy/proposals": {
        "body": {
            "message": "het beleid zoals het is",
            "files": {
                str(path.relative_to(POLICIES)): path.read_text(encoding="utf-8")
                for path in sorted(POLICIES.rglob("*"))
                if path.suffix in (".rego", ".json")
            },
        }
    },
    "POST /v1/policy/versions/{revision}/dry-run": {
        "path_parameters": {"revision": policy_revision(POLICIES)}  # proposed just before
    },
    "GET /v1/policy/history": {},
}
"""A request each operation accepts, sent once before the fuzzing, so that its success answer
is checked against the document too: fuzzed bodies almost never pass every check, and a
page of disclosures is empty unless one was released."""
MAX_EXAMPLES = 25
"""Per operation and generation mode: about 1,100 requests for the three services."""
ENGLISH = (
    "Input should",
    "String should",
    "List should",
    "Field required",
    "Value error",
    "Extra inputs",
    "Unable to",
    "Not Found",
    "Method Not Allowed",
    "There was an error",
    "Internal Server Error",
    "Content Too Large",
)
"""How FastAPI's, Starlette's and pydantic's own messages begin."""


@schemathesis.check
def problems_in_dutch(ctx: Any, response: Any, case: Any) -> bool | None:
    """A problem's title, detail and every error message are Dutch, not the framework's."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "detail" not in body:
        return None
    texts = [body["detail"], body.get("title", ""), *(e["message"] for e in body.get("errors", []))]
    english = [t for t in texts if isinstance(t, str) and t.startswith(ENGLISH)]
    assert english == [], f"Engels in een probleemantwoord: {english}"
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,  # an answer given with a token is refused without one, and with a forged one
    problems_in_dutch,
]
OTHER_SHAPES = {("/health", "503")}
"""A health check answers orchestrators with its status; every error is problem details."""
OAUTH_ERRORS = {("/oauth/token", "400"), ("/oauth/token", "401")}
"""Problem details that also carry RFC 6749 §5.2's `error` and `error_description`."""


def problem_schema(path: str, status: str) -> dict[str, Any]:
    model = "OAuthProblem" if (path, status) in OAUTH_ERRORS else "Problem"
    return {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{model}"}}}


@pytest.fixture
def apps(services: Services) -> dict[str, FastAPI]:  # noqa: F811
    return {**services.apps, "operator": create_operator_api(services.settings)}


def operations(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_is_documented_as_problem_details(
    apps: dict[str, FastAPI],
    service: str,
) -> None:
    app = apps[service]
    assert "Problem" in app.openapi()["components"]["schemas"]
    wrong = [
        f"{method.upper()} {path} {status}: {list(response.get('content', {}))}"
        for path, method, operation in operations(app)
        for status, response in operation["responses"].items()
        if status >= "400" and (path, status) not in OTHER_SHAPES
        if response.get("content") != problem_schema(path, status)
    ]
    assert wrong == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_secured_or_validated_operation_names_its_refusals(
    apps: dict[str, FastAPI],
    service: str,
) -> None:
    for path, method, operation in operations(apps[service]):
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        expected = set()
        if schemes:
            expected.add("401")
        if STAFF_SCHEME in schemes:
            expected.add("403")
        if "requestBody" in operation:
            expected.add("413")
        if operation.get("parameters") or "application/json" in operation.get(
            "requestBody", {}
        ).get("content", {}):
            expected.add("422")
        assert expected <= set(operation["responses"]), f"{method} {path}"


@pytest.mark.parametrize("service", SERVICES)
def test_nothing_people_read_in_the_documents_is_fastapis_english(
    apps: dict[str, FastAPI],
    service: str,
) -> None:
    text = str(apps[service].openapi())
    for english in ("Successful Response", "Validation Error", "HTTPValidationError"):
        assert english not in text


def test_intake_documents_the_melding_and_its_idempotency_key(
    services: Services,  # noqa: F811
) -> None:
    document = services.apps["intake"].openapi()
    submit = document["paths"]["/v1/meldingen"]["post"]
    body = submit["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/MeldingSubmission"}
    assert "victim" in document["components"]["schemas"]["MeldingSubmission"]["properties"]
    (key,) = [p for p in submit["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["required"] is True
    assert {"202", "401", "413", "422", "428", "503"} <= set(submit["responses"])
    assert submit["security"] == [{PARTNER_SCHEME: []}]
    health = document["paths"]["/health"]["get"]["responses"]["503"]  # for orchestrators
    assert list(health["content"]) == ["application/json"]


def test_intake_health_answers_503_as_documented(services: Services) -> None:  # noqa: F811
    answer = TestClient(services.apps["intake"]).get("/health")  # no lifespan: no broker
    assert (answer.status_code, answer.headers["content-type"]) == (503, "application/json")
    assert set(answer.json()) == {"status"}


def test_sharing_and_audit_document_their_own_statuses(
    services: Services,  # noqa: F811
) -> None:
    sharing = services.apps["sharing"].openapi()["paths"]
    assert {"401", "403", "404", "409", "413", "422"} <= set(
        sharing["/v1/reviews/{disclosure_id}"]["post"]["responses"]
    )
    assert "404" in sharing["/v1/disclosures/{disclosure_id}/ack"]["post"]["responses"]
    audit = services.apps["audit"].openapi()["paths"]
    export = audit["/v1/audit/export"]["get"]["responses"]["200"]
    assert list(export["content"]) == ["application/x-ndjson"]
    proof = audit["/v1/audit/entries/{seq}/proof"]["get"]["responses"]
    assert {"404", "409", "410", "422", "429"} <= set(proof)


def test_pydantics_own_errors_are_dutch_too(services: Services) -> None:  # noqa: F811
    token = add_member("po-1", "privacy_officer", services.settings.staff_file)
    answer = TestClient(services.apps["audit"]).get(
        "/v1/audit/entries",
        params={"melding_id": "geen-uuid", "since": "gisteren", "limit": "1.5"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    assert {e["path"]: e["message"] for e in answer.json()["errors"]} == {
        "query.melding_id": "moet een UUID zijn",
        "query.since": "moet een tijdstip zijn, bijvoorbeeld 2026-01-01T00:00:00Z",
        "query.limit": "moet een geheel getal zijn",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_the_frameworks_own_refusals_are_dutch_problems(
    apps: dict[str, FastAPI],
    service: str,
) -> None:
    client = TestClient(apps[service])
    for answer, title in (
        (client.get("/bestaat-niet"), "Niet gevonden"),
        (client.delete("/health"), "Methode niet toegestaan"),
    ):
        assert answer.headers["content-type"] == MEDIA_TYPE
        assert answer.json() == {
            "type": "about:blank",
            "title": title,
            "status": answer.status_code,
            "detail": title,
        }


def credentials(stack: Stack, service: str) -> dict[str, dict[str, str]]:
    """The Authorization header per security scheme, as a real caller of `service` has it."""
    partner = {"intake": "wijkteam-almelo", "sharing": RECIPIENT}.get(service)
    staff = {"sharing": stack.worker_token, "audit": stack.officer_token}.get(service)
    found = {}
    if partner is not None:
        token = stack.client(partner).token(stack.url(service))
        found[PARTNER_SCHEME] = {"Authorization": f"Bearer {token}"}
    if staff is not None:
        found[STAFF_SCHEME] = {"Authorization": f"Bearer {staff}"}
    return found


def examine(operation: Any, mode: schemathesis.GenerationMode, headers: dict[str, str]) -> None:
    """Up to `MAX_EXAMPLES` requests to one operation; raises at the first that fails a check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests in every run: a failure is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    run()


def fuzz(schema: Any, auth: dict[str, dict[str, str]]) -> list[str]:
    """Every operation of `schema`: its accepted request once, then fuzzed; what failed."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        raw = schema.raw_schema["paths"][operation.path][operation.method.lower()]
        schemes = [name for requirement in raw.get("security", []) for name in requirement]
        # Public operations are called as staff: staff are not rate-limited, so the 429 an
        # anonymous flood gets (documented) does not hide what they answer.
        headers = auth[schemes[0]] if schemes else auth.get(STAFF_SCHEME, {})
        if operation.label in ACCEPTED:
            request = ACCEPTED[operation.label]
            accepted = operation.Case(
                **{**request, "headers": {**headers, **request.get("headers", {})}}
            ).call_and_validate(checks=CHECKS, timeout=30)
            assert accepted.status_code < 300, f"{operation.label}: {accepted.text}"
            if operation.label == "GET /v1/disclosures":  # a real item met the document
                assert accepted.json()["items"]
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                examine(operation, mode, headers)
            except Unsatisfiable:  # nothing to get wrong (no parameters, no body)
                continue
            except Exception as exc:  # collected, so one run names every operation at fault
                failures.append(f"{operation.label} ({mode}): {exc}")
    return failures


@pytest.mark.integration
@pytest.mark.parametrize("service", STACK_SERVICES)
def test_schemathesis_finds_no_5xx_and_no_answer_against_the_document(
    stack: Stack, service: str
) -> None:
    if service == "sharing":  # a disclosure released to the partner, so its page has one
        stack.submit(MELDING)
        eventually(lambda: stack.fetch_all(RECIPIENT), timeout=90)
    schema = schemathesis.openapi.from_url(f"{stack.url(service)}/openapi.json")
    failures = fuzz(schema, credentials(stack, service))
    assert failures == [], "\n\n".join(failures)
    written = (stack.logs / f"{service}.log").read_text(errors="replace")
    assert "Traceback" not in written  # all that fuzzing, and not one exception in its log


def test_schemathesis_finds_no_5xx_and_no_answer_against_the_operator_apis_document(
    services: Services,  # noqa: F811
) -> None:
    """In process, on a real SQLite ledger, version store and policy key, with the real
    `opa`: a proposal of policies/ is accepted, and its dry run, before the fuzzing."""
    token = add_member("operator-a", "operator", services.settings.staff_file)
    app = create_operator_api(services.settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures = fuzz(schema, {STAFF_SCHEME: {"Authorization": f"Bearer {token}"}})
    assert failures == [], "\n\n".join(failures)
