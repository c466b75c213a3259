"""The shape of the code: areas depend on the shared kernel only, and no module grows too big."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
MAX_LINES = 600


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    return _imports_of(path.read_text(), package)


def _imports_of(source: str, package: str) -> list[tuple[int, str]]:
    """Every module `source` imports, absolute or relative (resolved against `package`)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from functions import exams` names a module too.
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _areas() -> list[Path]:
    return sorted(p for p in FUNCTIONS.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def test_an_area_imports_no_other_area() -> None:
    offences = []
    for area in _areas():
        for module in sorted(area.rglob("*.py")):
            for line, name in _imported_modules(module):
                parts = name.split(".")
                if parts[0] == "functions" and len(parts) > 1 and parts[1] != area.name:
                    offences.append(f"{module.relative_to(ROOT)}:{line} imports {name}")
    assert offences == [], "areas depend on `shared` only:\n" + "\n".join(offences)


def test_the_shared_kernel_imports_no_area() -> None:
    # shared.registry imports the `functions` package (to list the areas) and loads every area
    # through importlib for the generator: neither is an area's module named in an import.
    offences = [
        f"{module.relative_to(ROOT)}:{line} imports {name}"
        for module in sorted((ROOT / "shared").rglob("*.py"))
        for line, name in _imported_modules(module)
        if name.startswith("functions.")
    ]
    assert offences == [], "\n".join(offences)


def test_the_check_sees_every_spelling_of_an_import() -> None:
    source = (
        "import functions.auth.service\n"
        "from functions.progress import service\n"
        "from functions import exams\n"
        "from ..classes import models\n"
        "def later():\n    from functions.chat import retrieval\n"
    )
    names = {name for _, name in _imports_of(source, "functions.users")}
    assert {
        "functions.auth.service",
        "functions.progress",
        "functions.exams",
        "functions.classes.models",
        "functions.chat.retrieval",
    } <= names


def test_no_module_is_over_the_size_limit() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for folder in (FUNCTIONS, ROOT / "shared")
        for path in sorted(folder.rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these modules (at most {MAX_LINES} lines each)"


def test_student_data_routes_show_their_guard_in_the_openapi_document() -> None:
    """Access to a student's learning data is declared on the route (shared.http.student_data),
    decided in one place (shared/access.py), and published with the operation."""
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    guarded = {
        (path, verb)
        for path, item in document["paths"].items()
        for verb, operation in item.items()
        if "a teacher of their class, or an admin" in operation.get("x-access", "")
    }
    assert {
        ("/api/v1/students/{student_id}/progress", "get"),
        ("/api/v1/users/{user_id}/badges", "get"),
        ("/api/v1/analytics/students/{student_id}", "get"),
        ("/api/v1/users/{user_id}/paths", "get"),
        ("/api/v1/users/{user_id}/exam-sessions", "get"),
        ("/api/v1/users/{user_id}/weak-areas", "get"),
        ("/api/v1/students/{student_id}/submissions", "get"),
    } <= guarded
