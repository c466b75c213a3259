"""Question CSV rows: read a text stream record by record and judge each row on its own.

Nothing here touches Firestore; `service.import_stream` commits what this yields. Row numbers
count records the way a spreadsheet shows them: the header is row 1, the first question row 2
(a quoted field with newlines inside stays one row).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from functions.exams.models import (
    DOMAIN_PATTERN,
    MAX_EXPLANATION_TEXT,
    MAX_OPTION_TEXT,
    MAX_QUESTION_TEXT,
    QUESTION_ID_PATTERN,
)

LETTERS = ("A", "B", "C", "D")
COLUMNS = (
    "question-id",
    "domain",
    "question-text",
    "option-a",
    "option-b",
    "option-c",
    "option-d",
    "explanation-a",
    "explanation-b",
    "explanation-c",
    "explanation-d",
    "correct answer",
)
_LIMITS = {
    "question-text": MAX_QUESTION_TEXT,
    **{f"option-{x}": MAX_OPTION_TEXT for x in "abcd"},
    **{f"explanation-{x}": MAX_EXPLANATION_TEXT for x in "abcd"},
}
_DOMAIN = re.compile(DOMAIN_PATTERN)
_QUESTION_ID = re.compile(QUESTION_ID_PATTERN)
# The header as the OpenAPI document states it: the columns in this order, an optional BOM first.
HEADER_PATTERN = "^\ufeff?" + ",".join(COLUMNS) + "(\r?\n|$)"


class HeaderError(ValueError):
    """The file cannot be imported at all: no header, or required columns missing."""


@dataclass(frozen=True)
class Row:
    row: int
    question_id: str
    domain: str
    question_text: str
    options: dict[str, str]
    explanations: dict[str, str]
    correct_answer: str


@dataclass(frozen=True)
class Rejected:
    row: int
    message: str


def normalize_column(name: str) -> str:
    """` Correct_Answer ` -> `correct answer`; `Option A` -> `option-a`."""
    words = name.strip().lower().replace("_", " ").replace("-", " ").split()
    joined = " ".join(words)
    return joined if joined == "correct answer" else "-".join(words)


def column_positions(header: list[str]) -> dict[str, int]:
    names = [normalize_column(h) for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise HeaderError("The header lacks the column(s): " + ", ".join(missing) + ".")
    duplicated = sorted({n for n in names if n in COLUMNS and names.count(n) > 1})
    if duplicated:
        raise HeaderError("The header repeats the column(s): " + ", ".join(duplicated) + ".")
    return {c: names.index(c) for c in COLUMNS}


def judge(number: int, record: list[str], positions: dict[str, int], width: int) -> Row | Rejected:
    """One record: a Row to import, or the reason it is rejected."""
    if len(record) != width:
        return Rejected(number, f"expected {width} fields, found {len(record)}")
    values = {c: record[i].strip() for c, i in positions.items()}
    missing = [c for c, v in values.items() if not v]
    if missing:
        return Rejected(number, "missing " + ", ".join(missing))
    problems: list[str] = []
    if not _QUESTION_ID.match(values["question-id"]):
        problems.append("question-id must be 1 to 64 letters, digits, '.', '_' or '-'")
    if not _DOMAIN.match(values["domain"]):
        problems.append(f"domain {values['domain'][:20]!r} is not like 1.1")
    answer = values["correct answer"].upper()
    if answer not in LETTERS:
        problems.append(f"correct answer {values['correct answer'][:20]!r} is not one of A, B, C, D")
    problems += [f"{c} is longer than {limit} characters" for c, limit in _LIMITS.items() if len(values[c]) > limit]
    if problems:
        return Rejected(number, "; ".join(problems))
    return Row(
        row=number,
        question_id=values["question-id"],
        domain=values["domain"],
        question_text=values["question-text"],
        options={x: values[f"option-{x.lower()}"] for x in LETTERS},
        explanations={x: values[f"explanation-{x.lower()}"] for x in LETTERS},
        correct_answer=answer,
    )


def read_rows(text: TextIO) -> Iterator[Row | Rejected]:
    """Every question row of a CSV text stream, in order, read lazily.

    Raises HeaderError before yielding anything if the header is unusable; csv.Error (with the
    row number in its message) if the file is not CSV at all past some point.
    """
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None:
        raise HeaderError("The file is empty.")
    positions = column_positions(header)
    width = len(header)
    seen: dict[str, int] = {}
    number = 1
    while True:
        number += 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise csv.Error(f"row {number}: {exc}") from exc
        if not record or all(not field.strip() for field in record):
            continue  # blank line
        judged = judge(number, record, positions, width)
        if isinstance(judged, Row):
            first = seen.get(judged.question_id)
            if first is not None:
                judged = Rejected(number, f"question-id {judged.question_id} repeats row {first}")
            else:
                seen[judged.question_id] = number
        yield judged


def chunks(rows: Iterable[Row | Rejected], size: int) -> Iterator[list[Row | Rejected]]:
    batch: list[Row | Rejected] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
