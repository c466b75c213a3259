"""The OpenAPI document tells the truth: schemathesis generates requests for every operation of
docs/openapi.json, sends them through the gateway of the test stack (as an admin, the widest
access), and checks each answer: no server error, a documented status code, the documented
content type, a body that matches the documented schema.

Bounded: at most MAX_EXAMPLES generated cases per operation, and once TIME_BUDGET_SECONDS have
passed, one case per remaining operation, so areas added later join the run without stretching
the suite. Derandomized: the same cases every run, no flaky failure.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import Api, Stack

ROOT = Path(__file__).resolve().parent.parent
MAX_EXAMPLES = 8
TIME_BUDGET_SECONDS = 25.0
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def check(operation: Any, token: str, examples: int) -> None:
    """Up to `examples` generated cases of one operation, each answer held to the document."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def conforms(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    conforms()


def test_every_operation_answers_as_documented(api: Api, stack: Stack) -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    schema = schemathesis.openapi.from_dict(document)
    schema.app = stack.gateway
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        operations += 1
        # An admin of its own per operation: an operation may end its session (logout) or lock
        # its login (wrong current passwords).
        token = api.admin(f"conformance-{operations}@example.com")["access_token"]
        examples = MAX_EXAMPLES if time.monotonic() < deadline else 1
        try:
            check(operation, token, examples)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group: collect, report all
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    assert operations == sum(len(methods) for methods in document["paths"].values())
    assert failures == [], "\n\n".join(failures)
