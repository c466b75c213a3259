"""The demo question bank (infra/demo/questions/*.csv), imported by the real import code.

Each file goes through `functions.exams.imports.run_import`, exactly as the storage trigger
runs it, under an import id derived from the file's content: loading twice imports once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from functions.exams import imports as service
from shared import store

QUESTIONS_DIR = Path(__file__).resolve().parents[1] / "demo" / "questions"


def load(directory: Path = QUESTIONS_DIR) -> str:
    files = sorted(directory.glob("*.csv"))
    imported = 0
    for path in files:
        exam_type = path.stem
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        import_id = service.import_id_of("demo", f"questions/{path.name}", digest)

        def open_text(path: Path = path) -> Any:
            return path.open(encoding="utf-8-sig", newline="")

        service.run_import(exam_type, f"questions/{path.name}", import_id, open_text, store.now())
        report = service.get_import(import_id)
        imported += report.rows_imported
    return f"{len(files)} exam types, {imported} questions (GET /api/v1/exams)"
