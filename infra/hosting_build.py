"""Build the Firebase Hosting public folder (`infra/hosting`): the API documentation.

    python -m infra.hosting_build

`/openapi.json` is a copy of the generated `docs/openapi.json`; `/docs` (`docs.html`, with
`cleanUrls`) is Swagger UI over it, its assets copied from the Swagger UI distribution that
the `flask-swagger-ui` package ships (never a CDN). Cloud Build runs this before deploying
Hosting; the local gateway runs it when it starts, so both serve the same files. The copies
are build outputs, not sources (.gitignore).
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ROOT / "infra" / "hosting"
OPENAPI = ROOT / "docs" / "openapi.json"
# The Swagger UI files /docs needs (Swagger UI 5: OpenAPI 3.1), and its licence.
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "VERSION")


def swagger_dist() -> Path:
    return Path(str(resources.files("flask_swagger_ui") / "dist"))


def build(public: Path = PUBLIC) -> list[Path]:
    """Copy the OpenAPI document and the Swagger UI assets into `public`; returns what it wrote."""
    written = [public / "openapi.json"]
    public.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(OPENAPI, written[0])
    target = public / "swagger-ui"
    target.mkdir(exist_ok=True)
    for name in SWAGGER_FILES:
        shutil.copyfile(swagger_dist() / name, target / name)
        written.append(target / name)
    return written


def main() -> int:
    for path in build():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
