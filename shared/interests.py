"""The interest catalogue that ships with the code (shared/data/interests.json): its ids, and the
payload type of an interest id, stated in the OpenAPI document as an `enum` of them."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Annotated

from pydantic import StringConstraints

from shared.validation import OneOf


@lru_cache(maxsize=1)
def interest_ids() -> frozenset[str]:
    text = resources.files("shared.data").joinpath("interests.json").read_text("utf-8")
    return frozenset(str(item["id"]) for item in json.loads(text))


InterestId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    OneOf(interest_ids, "Unknown interest: pick ids from GET /api/v1/interests."),
]
