"""The OpenAPI document is exact: schemathesis generates requests for every operation of
docs/openapi.json, as an admin and as a student, both data that fits the document and data
that does not, sends them through the gateway of the test stack and runs every check on each
answer: no server error; a documented status, content type, headers and body; data the document
allows is accepted (2xx, or 401/403/404/409/429: who asks, what exists, what state it is in) and
data it forbids is refused (4xx); the route refuses an unknown method, answers without
credentials as it should, ... (schemathesis.toml: the config the CLI run reads too, and the
operations left out because they would end the fuzzer's own session).

Operations come from the document, so a route added later is fuzzed with no change here.
Bounded: the coverage phase's cases (the document's boundaries, one by one) plus up to
MAX_EXAMPLES generated ones per operation and mode, and once TIME_BUDGET_SECONDS have passed,
one generated case per remaining operation. Derandomized: the same cases every run.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation import overrides
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test

from tests.support import Api, Stack

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "schemathesis.toml"
# Logout (and logout everywhere), a password change, ending a session by id, archiving an account.
SESSION_ENDING = {"auth_logout_post", "auth_change_password_post", "auth_sessions_item_delete", "users_item_delete"}
MAX_EXAMPLES = 4
TIME_BUDGET_SECONDS = 120.0
load_all_checks()
ALL_CHECKS = CHECKS.get_all()


def summary(exc: BaseException) -> str:
    """What failed and the answer that shows it, without the full reproduction."""
    keep = re.compile(r"^\s*(- [A-Z]{2}\d+ |\[\d{3}\]|`\{|- .*violates)")
    lines = [line.strip()[:300] for line in str(exc).splitlines() if keep.match(line)]
    return "\n    ".join([type(exc).__name__, *lines]) if lines else f"{type(exc).__name__}: {str(exc)[:1500]}"


def fuzz(operation: Any, config: SchemathesisConfig, token: str, examples: int) -> None:
    """The coverage cases and up to `examples` generated cases of one operation, in both modes,
    each answer held to every check."""

    def conforms(case: Any) -> None:
        case.call_and_validate(checks=ALL_CHECKS)

    project = config.projects.get(operation.schema.raw_schema)
    # The token as configured headers (the CLI's -H): schemathesis knows them as the caller's own
    # and leaves them out of what a negative case may take away.
    project.update(headers={"Authorization": f"Bearer {token}"})
    test = create_test(
        operation=operation,
        test_func=conforms,
        config=HypothesisTestConfig(
            project=project,
            override=overrides.with_config_headers(project, operation=operation),
            modes=[HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING],
            settings=settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        ),
    )
    test()


def test_every_operation_answers_as_documented(api: Api, stack: Stack) -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    config = SchemathesisConfig.from_path(CONFIG)
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.app = stack.gateway
    tokens = {
        "admin": api.admin("conformance-admin@example.com")["access_token"],
        "student": api.register("conformance-student@example.com")["access_token"],
    }
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    failures: list[str] = []
    fuzzed = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        fuzzed.add(operation.label)
        for role, token in tokens.items():
            examples = MAX_EXAMPLES if time.monotonic() < deadline else 1
            try:
                fuzz(operation, config, token, examples)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group: collect, report all
                failures.append(f"{operation.label} as {role}: {summary(exc)}")
    assert failures == [], "\n\n".join(failures)
    # Every operation of the document but those that would end the fuzzer's own session, and only
    # those: an operation is never left out to hide a failure.
    operations = tomllib.loads(CONFIG.read_text())["operations"]
    left_out = {o["include-operation-id"] for o in operations if o.get("enabled") is False}
    assert left_out == SESSION_ENDING
    # The one rule stated only in words (a solution must pass its tests: 422) is the only exemption.
    exempt = {o["include-operation-id"] for o in operations if "checks" in o}
    assert exempt == {
        "exercises_list_post",
        "exercises_item_put",
        "paths_collection_post",
        "paths_item_put",
        "auth_register_post",
        "schools_invitations_accept_post",
    }
    documented = {
        op["operationId"]: f"{verb.upper()} {path}"
        for path, methods in document["paths"].items()
        for verb, op in methods.items()
    }
    assert fuzzed == {label for op_id, label in documented.items() if op_id not in left_out}
