"""API docs: `GET /docs` (Swagger UI) and `GET /openapi.json`, served as Hosting serves them,
from the generated document and Swagger UI's own packaged assets, never a CDN."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from infra.hosting_build import SWAGGER_FILES, build, swagger_dist
from infra.local.gateway import Gateway
from infra.manifest import generated_files
from tests.support import Api

ROOT = Path(__file__).resolve().parent.parent


def test_docs_page_is_swagger_ui_from_local_assets_over_the_generated_document(api: Api) -> None:
    page = api.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "swagger-ui" in html
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets  # no CDN
    for asset in assets:
        response = api.get(asset)
        assert response.status_code == 200, asset
    init = api.get("/docs-init.js").get_data(as_text=True)
    assert 'url: "/openapi.json"' in init and "validatorUrl: null" in init
    assert "http" not in init  # nothing from elsewhere
    bundle = api.get("/swagger-ui/swagger-ui-bundle.js")
    assert bundle.mimetype is not None
    assert "javascript" in bundle.mimetype
    assert bundle.get_data() == (swagger_dist() / "swagger-ui-bundle.js").read_bytes()
    assert (swagger_dist() / "VERSION").read_text().strip().startswith("v5.")  # Swagger UI 5 reads OpenAPI 3.1


def test_openapi_json_is_the_generated_document(api: Api) -> None:
    response = api.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_data(as_text=True) == generated_files()["docs/openapi.json"]
    document = response.json
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for path, verb in (
        ("/api/v1/auth/verify-email", "post"),
        ("/api/v1/auth/verify-email/resend", "post"),
        ("/api/v1/users/{id}/avatar", "put"),
        ("/api/v1/users/{id}/export", "get"),
    ):
        assert verb in paths[path], path
    assert "bio" in document["components"]["schemas"]["UserOut"]["properties"]


def test_hosting_serves_the_same_folder_and_builds_it_before_deploying() -> None:
    config = json.loads((ROOT / "firebase.json").read_text())["hosting"]
    assert config["public"] == "infra/hosting" and config["cleanUrls"] is True
    gateway = Gateway()
    assert gateway.route("/docs") is None and gateway.route("/openapi.json") is None  # files, not functions
    assert gateway.static_file("/docs") == (ROOT / "infra/hosting/docs.html").resolve()
    steps = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]
    checks = next(s for s in steps if s["id"] == "checks")
    assert "python -m infra.hosting_build" in checks["args"][-1]
    hosting = next(s for s in steps if s["id"] == "hosting")
    assert hosting["args"][hosting["args"].index("--only") + 1] == "hosting"
    # The public folder is built by the checks step, which every deploy (and so Hosting) follows.
    assert all(d["waitFor"] for d in steps if d["id"].startswith("deploy-"))
    assert {s["id"] for s in steps if s["id"].startswith("deploy-")} <= set(hosting["waitFor"])


def test_the_build_writes_every_asset(tmp_path: Path) -> None:
    written = build(tmp_path)
    assert (tmp_path / "openapi.json").read_text() == (ROOT / "docs" / "openapi.json").read_text()
    assert {p.name for p in written} == {"openapi.json", *SWAGGER_FILES}


def test_static_serving_stays_inside_the_public_folder(api: Api) -> None:
    for path in ("/../firebase.json", "/..%2Ffirebase.json", "/.gitignore", "/swagger-ui/../../../main.py"):
        response = api.get(path)
        assert response.status_code == 404, path
    assert api.get("/nonexistent").json["error"]["code"] == "not_found"
    assert api.post("/docs").status_code == 404  # files answer GET and HEAD only
