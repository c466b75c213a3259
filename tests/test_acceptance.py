"""Defects found by the acceptance pass over the local stack (issues 9-15), each held here as a
user saw it: the request, the answer they got, the answer the contract promises."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path",
    ["/api/v1/exercises/%00", "/api/v1/paths/%00", "/api/v1/chat/sessions/%00/messages", "/health%00"],
)
def test_a_nul_byte_in_the_path_is_a_json_404_not_a_500(api, path):
    """`GET /api/v1/exercises/%00` on the local stack answered an HTML 500 (the gateway's
    static-file lookup raised on the NUL byte before any route was tried)."""
    student = api.register("nul-byte@example.com")
    response = api.get(path, token=student["access_token"])
    assert response.status_code == 404, response.get_data(as_text=True)[:200]
    assert response.json["error"]["code"] == "not_found"
