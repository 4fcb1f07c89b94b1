"""Every service's published OpenAPI, fuzzed by schemathesis against the running system.

For each operation of the projection and the three organisation services, schemathesis
generates requests that follow the schema (positive) and requests that break it (negative),
sends them with a valid key, and checks that nothing answers 5xx and that every answer has
the content type and the shape the schema publishes. Any failure names the operation.
"""

from collections import Counter
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.e2e.system import SERVICES, System, running

EXAMPLES = 12  # per operation and generation mode: each rule met, in under half a minute
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
SIGNED = "/v1/inbound/{source}"  # charities' systems sign each message: no key gets past it


def test_no_operation_answers_5xx_or_breaks_its_published_schema(
    system: System, tmp_path: Path
) -> None:
    system.settings.update(  # a fuzzer is one busy client: keep the rate limit out of its way
        {
            "CASEWEAVE_RATE_LIMIT_PER_MINUTE": "1000000",
            "CASEWEAVE_RATE_LIMIT_BURST": "100000",
            "CASEWEAVE_AUTH_FAILURES_PER_MINUTE": "1000000",
        }
    )
    with running(system, tmp_path / "system.log"):
        steward = system.create_key("housing", "data_steward")
        keys = {
            service: steward if service == "projection" else system.create_key(service)
            for service in SERVICES
        }
        tried, failures = Counter[int](), []
        positive = Counter[int]()  # requests that follow the schema, the key included
        for service in SERVICES:
            base_url = system.url(service)
            schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
            headers = {"Authorization": f"Bearer {keys[service]}"}
            for result in schema.get_all_operations():
                operation = result.ok()
                for mode in GenerationMode:
                    try:
                        sent = _fuzz(operation, mode, base_url, headers)
                        if operation.path == SIGNED:  # unsigned here: 401 is right
                            assert set(sent) <= {400, 401, 413, 415, 422}, sent
                        else:
                            tried += sent
                            if mode is GenerationMode.POSITIVE:
                                positive += sent
                    except Unsatisfiable:  # no input to break (GET /health/live): nothing to send
                        continue
                    except Exception as failure:
                        failures.append(f"{service} {operation.label} ({mode.value}): {failure}")
        print(f"schemathesis: {tried.total()} requests, by status {sorted(tried.items())}")
        assert not failures, "\n\n".join(failures)
        assert tried.total() > 1_000
        # every request that follows the schema got past authentication to the rules behind
        # it (breaking it, schemathesis may also send a bad key, since the schema declares it)
        assert 401 not in positive


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
) -> Counter[int]:
    statuses = Counter[int]()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a failure is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    send()
    return statuses
