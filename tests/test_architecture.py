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


# Answers are earned: one rule, asked by every place that shows one ---------------------------------

# What an answer is made of (shared.answers): a question's key and explanations, an exercise's
# solution, a hidden test's stdin and expected output (its `code` shares the name of a submission's
# own code, so the test case is caught by the two others).
ANSWER_FIELDS = frozenset({"correct_answer", "explanations", "solution", "stdin", "expected_output"})


def _output_models(source: str) -> dict[str, ast.ClassDef]:
    """The response models of a models module: classes that derive from `Out`, directly or not."""
    classes = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}

    def is_output(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == "Out":
            return True
        node = classes.get(name)
        return (
            node is not None
            and name not in seen
            and any(isinstance(b, ast.Name) and is_output(b.id, seen | {name}) for b in node.bases)
        )

    return {name: node for name, node in classes.items() if is_output(name)}


def answer_models(source: str) -> frozenset[str]:
    """The response models that can carry an answer: a field named as one, a free-form field
    (`Any`: a whole stored document), or a field holding such a model."""
    models = _output_models(source)
    fields = {
        name: [s for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
        for name, node in models.items()
    }
    found: set[str] = set()
    while True:
        more = {
            name
            for name, annotated in fields.items()
            if name not in found
            and any(
                f.target.id in ANSWER_FIELDS  # type: ignore[union-attr]
                or {n.id for n in ast.walk(f.annotation) if isinstance(n, ast.Name)} & (found | {"Any"})
                for f in annotated
            )
        }
        if not more:
            return frozenset(found)
        found |= more


def _the_rule() -> frozenset[str]:
    """The functions (and classes) of shared.answers."""
    import inspect

    from shared import answers

    return frozenset(
        name for name, value in vars(answers).items() if inspect.isfunction(value) or inspect.isclass(value)
    )


def _asks_the_rule(function: ast.AST, rule_names: frozenset[str]) -> bool:
    """Whether `function` (nested code and lambdas included) calls shared.answers: `answers.<one
    of its functions>(...)`, or one imported from it (a local variable that shadows the module's
    name, `answers.get(...)`, is not the rule)."""
    rule = _the_rule()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            f = node.func
            module_call = isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in rule_names
            if module_call and f.attr in rule:  # type: ignore[attr-defined]
                return True
            if isinstance(f, ast.Name) and f.id in rule_names and f.id in rule:
                return True
    return False


def _names_of_the_rule(tree: ast.Module) -> frozenset[str]:
    """The names under which a module imported shared.answers or its functions."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shared":
            names |= {a.asname or a.name for a in node.names if a.name == "answers"}
        elif isinstance(node, ast.ImportFrom) and node.module == "shared.answers":
            names |= {a.asname or a.name for a in node.names}
    return frozenset(names)


def _called_names(node: ast.AST) -> set[str]:
    return {
        n.func.id if isinstance(n.func, ast.Name) else n.func.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name | ast.Attribute)
    }


def answers_shown_without_the_rule(source: str, models: frozenset[str]) -> list[str]:
    """The functions of `source` that build a response able to carry an answer (one of `models`)
    without asking shared.answers, themselves or through every caller in their module."""
    tree = ast.parse(source)
    rule = _names_of_the_rule(tree)
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    callers = {name: [f for f in functions.values() if name in _called_names(f)] for name in functions}

    def covered(name: str, seen: frozenset[str]) -> bool:
        if _asks_the_rule(functions[name], rule):
            return True
        above = [c.name for c in callers[name] if c.name not in seen and c.name != name]
        return bool(above) and all(covered(c, seen | {name}) for c in above)

    return sorted(
        f"{name} builds {', '.join(sorted(_called_names(node) & models))}"
        for name, node in functions.items()
        if _called_names(node) & models and not covered(name, frozenset())
    )


def test_no_area_shows_an_answer_without_the_rule() -> None:
    """Every function that builds a response able to carry an answer (a key, explanations, a
    solution, a hidden test, or a whole stored document) asks shared.answers, or is reached only
    through functions that do (docs/architecture.md, "Answers are earned")."""
    offences = []
    for area in _areas():
        models_module = area / "models.py"
        models = answer_models(models_module.read_text()) if models_module.exists() else frozenset()
        for module in sorted(area.rglob("*.py")):
            if module != models_module:
                found = answers_shown_without_the_rule(module.read_text(), models)
                offences += [f"{module.relative_to(ROOT)}: {o}" for o in found]
    assert offences == [], "ask shared.answers before showing an answer:\n" + "\n".join(offences)


def test_the_answer_check_catches_the_side_doors_it_was_written_for() -> None:
    """The shapes of the old side doors (a session view deciding alone, a teacher role check, an
    export of whole documents), and the same code once it asks the rule."""
    models = answer_models(
        "class Out: ...\n"
        "class QuestionShown(Out):\n    correct_answer: str | None = None\n"
        "class SessionOut(Out):\n    questions: list[QuestionShown]\n"
        "class ExportedDocument(Out):\n    data: dict[str, Any]\n"
        "class NameOut(Out):\n    name: str\n"
        "class QuestionIn(Payload):\n    correct_answer: str\n"
    )
    assert models == {"QuestionShown", "SessionOut", "ExportedDocument"}
    alone = (
        "def session_out(data):\n"
        "    reveal = data['status'] == 'submitted'\n"
        "    return SessionOut(questions=[QuestionShown(correct_answer=q['correct_answer'] if reveal else None)"
        " for q in data['questions']])\n"
        "def get_session(ref):\n    return session_out(ref.get().to_dict())\n"
        "def export(snapshots):\n    return [ExportedDocument(data=s.to_dict()) for s in snapshots]\n"
        "def name_out(data):\n    return NameOut(name=data['name'])\n"
        "from shared import answers\n"
        "def practice_out(data):\n"
        "    answers = data['answers']\n"
        "    return QuestionShown(correct_answer=answers.get('q1'))\n"
    )
    assert answers_shown_without_the_rule(alone, models) == [
        "export builds ExportedDocument",
        "practice_out builds QuestionShown",
        "session_out builds QuestionShown, SessionOut",
    ]
    asking = (
        "from shared import answers\n"
        "def session_out(data, keys):\n"
        "    shown = [QuestionShown(correct_answer=q['correct_answer'] if q['id'] in keys else None)"
        " for q in data['questions']]\n"
        "    return SessionOut(questions=shown)\n"
        "def get_session(ref, viewer):\n"
        "    data = ref.get().to_dict()\n"
        "    return session_out(data, answers.session_keys_shown(viewer, data))\n"
        "def export(snapshots, owner):\n"
        "    return [ExportedDocument(data=answers.earned_only(owner, 'c', s.to_dict())) for s in snapshots]\n"
    )
    assert answers_shown_without_the_rule(asking, models) == []
    # A second caller that does not ask uncovers the function again.
    assert answers_shown_without_the_rule(asking + "def peek(data):\n    return session_out(data, None)\n", models) == [
        "session_out builds QuestionShown, SessionOut"
    ]
