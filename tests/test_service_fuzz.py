"""Schemathesis fuzzes the live app from its OpenAPI schema: no 5xx, and every answer fits the schema.

Run against the ASGI app in process (``schemathesis.openapi.from_asgi``) with an
analyst token (a refresh trigger answers 403, so the fuzzer starts no run). The
what-if is fuzzed with few examples (each answer refits the scenario).
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from clv.service.app import ServiceState, create_app  # noqa: E402
from clv.service.server import open_workspace_store  # noqa: E402
from service_workspace import built_workspace  # noqa: E402

BUILT = built_workspace()
WORKSPACE, STORE = open_workspace_store(BUILT.root)
APP = create_app(ServiceState(WORKSPACE, STORE))
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)
# The what-if refits a scenario per answer: fuzzed on a few generated bodies, without the coverage phase's
# systematic sweep of every boundary (the other routes get it).
QUICK = schemathesis.openapi.from_asgi("/api/openapi.json", APP, config=schemathesis.config.SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}}}))
HEADERS = {"Authorization": f"Bearer {BUILT.tokens['analyst']}"}


@schema.exclude(path="/api/whatif").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_fit_the_schema_and_never_5xx(case):
    case.call_and_validate(headers=HEADERS)


@QUICK.include(path="/api/whatif").parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_what_if_fuzzed(case):
    # A scenario of the right shape can still be impossible on this data (a margin change taking the margin
    # above 100%): the answer is a documented 400 saying so, so "valid shape => 2xx" is not required here.
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    case.call_and_validate(headers=HEADERS, excluded_checks=[positive_data_acceptance])
