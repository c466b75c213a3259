"""The registry is the one source of truth: every derived file matches it, every function
resolves through main.py, and every name follows the area rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import main
from infra.local.gateway import Gateway
from infra.manifest import generated_files, glob_of
from shared.registry import load_all

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("relative", sorted(generated_files()))
def test_committed_file_matches_registry(relative: str) -> None:
    expected = generated_files()[relative]
    actual = (ROOT / relative).read_text() if (ROOT / relative).exists() else ""
    assert actual == expected, f"{relative} drifted from the registry: run `make generate`"


def test_every_function_resolves_through_main() -> None:
    for spec in load_all().values():
        entry = getattr(main, spec.entry_point)
        assert entry.__name__ == spec.entry_point
        assert spec.name.startswith(spec.area + "-")


def test_unknown_target_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        main.nosuch_function  # noqa: B018
    with pytest.raises(AttributeError):
        main.auth_nosuch  # noqa: B018


def test_every_http_route_reaches_its_own_function_through_the_rewrites() -> None:
    gateway = Gateway()
    for spec in load_all().values():
        if spec.kind != "http":
            continue
        concrete = "/".join("x1" if seg.startswith("{") else seg for seg in (spec.path or "").split("/"))
        assert gateway.route(concrete) == spec.name, f"{concrete} is routed to {gateway.route(concrete)}"


def test_cloudbuild_deploys_each_function_once() -> None:
    import yaml

    steps = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]
    deploys = [s["args"][-1].split("gcloud functions deploy ", 1)[1] for s in steps if s["id"].startswith("deploy-")]
    assert sorted(d.split()[0] for d in deploys) == sorted(load_all())
    for deploy in deploys:
        assert " --gen2 " in deploy and " --entry-point=" in deploy


def test_event_functions_have_push_subscriptions_with_dead_letters() -> None:
    pubsub = json.loads((ROOT / "infra" / "pubsub.json").read_text())
    by_function = {s["function"]: s for s in pubsub["subscriptions"] if s["function"]}
    for spec in load_all().values():
        if spec.kind == "event":
            sub = by_function[spec.name]
            assert sub["topic"] == spec.topic and spec.topic in pubsub["topics"]
            assert sub["dead_letter_topic"] == "dead-letter"


def test_glob_of_route_template() -> None:
    assert glob_of("/api/v1/classes/{class_id}/students") == "/api/v1/classes/*/students"
