"""What the tutor knows: the platform's own content in an in-memory SQLite FTS5 index, ranked
by BM25 (the standard library's sqlite3, no numpy, ~5 ms to import).

Each instance of the reply function builds the index from the content collections on first use
and keeps it fresh cheaply (docs/chat.md, "Retrieval"):
- every `tutor_index_refresh_seconds` it reads only what changed: one query per collection on
  `updated_at` (one billed read when nothing changed);
- every `tutor_index_rebuild_seconds` it rebuilds from scratch (drops deleted content, and
  content written without `updated_at`);
- before a passage is cited, its document is read again (`verify`), so an edited passage is
  quoted as it is now and a deleted one is never cited.

Exercises are read through a projection: their tests and solution never leave Firestore.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared import store
from shared.collections import EXERCISES, PATHS, QUESTIONS
from shared.config import settings

EXERCISE_FIELDS = ["title", "description", "topic", "difficulty", "hints", "updated_at"]
# A write whose `updated_at` is older than its commit (a long import) is still seen by a
# refresh that looks this far behind the previous one.
REFRESH_OVERLAP = timedelta(minutes=2)
CANDIDATES = 40  # passages BM25 picks for the finer score
MAX_WORDS = 16  # of a query: a pasted paragraph is cut here
COMMON_FLOOR = 50  # below this many passages no word is too common to seek candidates with
UNKNOWN_DF = 8  # the passages an unknown word is weighed as if it were in
# How a new instance waits for the rebuild job's first snapshot.
SNAPSHOT_POLL_SECONDS = 2.0
SNAPSHOT_RETRY_SECONDS = 60

# Words too common to say what a question is about, and the filler of a learner's question
# ("I keep getting ... in my ..., why?"): they neither find a passage nor count against one.
STOPWORDS = frozenset(
    " ".join(
        (
            "a an and are as at be but by can could do does did for from had has have how i if in into is",
            "it its me my no not of on or so than that the their them then there these they this to was",
            "what when where which who why will with would you your yes please explain tell about again",
            "more some any just like want know need help keep keeps getting get gets got im i'm ive dont",
            "doesnt isnt cant wont mean means meaning difference between vs versus thing things one ones",
            "should shall use used using work works working happen happens really still also here",
            "example examples question questions answer answers understand confused stuck way ways",
            "give show tell me mine we us our am being been very much many lot make makes made",
            "something anything everything right wrong correct option options choice",
            "don doesn isn didn won aren wasn kind kinds sort type types exactly goes go put",
            "first second third last 1st 2nd 3rd back give",
        )
    ).split()
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#]*")


def terms(text: str) -> list[str]:
    """The searchable words of `text`, lower-cased, without stop words, in order, unique."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if word not in STOPWORDS and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)


@dataclass(frozen=True)
class Passage:
    """One citable piece of content. `text` is what an answer may quote; a question's
    `answer` (its correct option and why) is kept apart so it can be withheld."""

    kind: str  # "question" | "lesson" | "exercise"
    id: str
    title: str
    text: str
    collection: str
    doc_id: str
    exam_type: str | None = None
    answer: str | None = None
    keywords: str = ""  # searched, never quoted
    stands_for: str = ""  # the key of the passage this one only points to (an exercise lesson)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


# Documents to passages --------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def question_passages(doc_id: str, data: dict[str, Any]) -> list[Passage]:
    question = str(data.get("question_text") or "")
    if not question:
        return []
    options: dict[str, str] = data.get("options") or {}
    explanations: dict[str, str] = data.get("explanations") or {}
    correct = str(data.get("correct_answer") or "")
    answer = None
    if correct in options:
        why = explanations.get(correct, "")
        answer = f"The correct option is {correct} ({options[correct]}). {why}".strip()
    background = " ".join(f"{k}: {v}" for k, v in sorted(options.items()))
    return [
        Passage(
            kind="question",
            id=doc_id,
            title=_clip(question, 120),
            text=f"Options: {background}.",
            collection=QUESTIONS,
            doc_id=doc_id,
            exam_type=str(data.get("exam_type") or "") or None,
            answer=answer,
            keywords=f"{question} {data.get('domain', '')}",
        )
    ]


def exercise_passages(doc_id: str, data: dict[str, Any]) -> list[Passage]:
    title = str(data.get("title") or "")
    if not title:
        return []
    hints = [str(h) for h in (data.get("hints") or []) if h]
    text = str(data.get("description") or "")
    if hints:
        text += " Hints: " + " ".join(hints)
    keywords = f"{data.get('topic') or ''} {data.get('difficulty') or ''}"
    return [
        Passage(
            kind="exercise", id=doc_id, title=title, text=text, collection=EXERCISES, doc_id=doc_id, keywords=keywords
        )
    ]


# How a lesson without a body of its own is described ("A lesson" when the kind is unknown).
LESSON_KINDS = {
    "reading": "A reading",
    "video": "A video",
    "exercise": "An exercise",
    "practice_exam": "A practice exam",
}


def path_passages(doc_id: str, data: dict[str, Any]) -> list[Passage]:
    path_title = str(data.get("title") or "")
    out = []
    for module in data.get("modules") or []:
        for lesson in (module or {}).get("lessons") or []:
            if not isinstance(lesson, dict) or not lesson.get("id") or not lesson.get("title"):
                continue
            body = str(lesson.get("body") or "")
            exercise_id = str(lesson.get("exercise_id") or "") if lesson.get("kind") == "exercise" else ""
            kind = LESSON_KINDS.get(str(lesson.get("kind")), "A")
            about = f"{kind} lesson on {lesson.get('topic') or lesson['title']}"
            about += f" in the path {path_title}, module {module.get('title', '')}."
            out.append(
                Passage(
                    kind="lesson",
                    id=str(lesson["id"]),
                    title=str(lesson["title"]),
                    text=body or about,
                    collection=PATHS,
                    doc_id=doc_id,
                    keywords=f"{about} {path_title}" if body else path_title,
                    # The exercise is indexed itself: this lesson is cited as it, never twice.
                    stands_for=f"exercise:{exercise_id}" if exercise_id and not body else "",
                )
            )
    return out


READERS: dict[str, Callable[[str, dict[str, Any]], list[Passage]]] = {
    QUESTIONS: question_passages,
    EXERCISES: exercise_passages,
    PATHS: path_passages,
}


def _query(collection: str) -> Any:
    query = store.db().collection(collection)
    return query.select(EXERCISE_FIELDS) if collection == EXERCISES else query


# The index ---------------------------------------------------------------------------------------

PASSAGE_FIELDS = tuple(Passage.__dataclass_fields__)


class Index:
    """BM25 over title (weight 3) and body (weight 1), Porter-stemmed, in memory."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute(
            "CREATE VIRTUAL TABLE passages USING fts5(title, body, key UNINDEXED, tokenize='porter unicode61')"
        )
        self.passages: dict[str, Passage] = {}
        self.by_document: dict[tuple[str, str], list[str]] = {}
        self.lock = threading.Lock()
        self._df: dict[str, int] = {}
        self._df_size = 0

    def __len__(self) -> int:
        return len(self.passages)

    def put(self, collection: str, doc_id: str, passages: Iterable[Passage]) -> None:
        """Replace what the index holds of one document."""
        with self.lock:
            self._drop(collection, doc_id)
            keys = []
            for p in passages:
                if p.key in self.passages:  # a lesson id used twice: the first path keeps it
                    continue
                self.passages[p.key] = p
                keys.append(p.key)
                self.db.execute(
                    "INSERT INTO passages(title, body, key) VALUES (?, ?, ?)",
                    (p.title, f"{p.text} {p.answer or ''} {p.keywords}", p.key),
                )
            self.by_document[(collection, doc_id)] = keys

    def drop(self, collection: str, doc_id: str) -> None:
        with self.lock:
            self._drop(collection, doc_id)

    def _drop(self, collection: str, doc_id: str) -> None:
        for key in self.by_document.pop((collection, doc_id), []):
            self.passages.pop(key, None)
            self.db.execute("DELETE FROM passages WHERE key = ?", (key,))

    def to_bytes(self) -> bytes:
        """The whole index as one SQLite database image (passages kept in a plain table)."""
        with self.lock:
            self.db.execute("DROP TABLE IF EXISTS kept")
            self.db.execute(f"CREATE TABLE kept ({', '.join(PASSAGE_FIELDS)})")
            self.db.executemany(
                f"INSERT INTO kept VALUES ({', '.join('?' for _ in PASSAGE_FIELDS)})",
                [tuple(getattr(p, f) for f in PASSAGE_FIELDS) for p in self.passages.values()],
            )
            image = self.db.serialize()
            self.db.execute("DROP TABLE kept")
            return image

    @classmethod
    def from_bytes(cls, image: bytes) -> Index:
        index = cls.__new__(cls)
        index.db = sqlite3.connect(":memory:", check_same_thread=False)
        index.db.deserialize(image)
        index.passages, index.by_document, index.lock = {}, {}, threading.Lock()
        index._df, index._df_size = {}, 0
        for row in index.db.execute(f"SELECT {', '.join(PASSAGE_FIELDS)} FROM kept"):
            p = Passage(**dict(zip(PASSAGE_FIELDS, row, strict=True)))
            index.passages[p.key] = p
            index.by_document.setdefault((p.collection, p.doc_id), []).append(p.key)
        index.db.execute("DROP TABLE kept")
        return index

    def get(self, kind: str, source_id: str) -> Passage | None:
        found = self.passages.get(f"{kind}:{source_id}")
        return self.resolve(found) if found is not None else None

    def resolve(self, passage: Passage) -> Passage:
        """The passage to cite for `passage`: the exercise an exercise lesson points to."""
        return self.passages.get(passage.stands_for, passage) if passage.stands_for else passage

    def hits(self, words: list[str], limit: int = CANDIDATES) -> list[Hit]:
        """The passages that match any of `words`, best first, each scored by the share of the
        query's weight it covers (0 to 1; BM25's idf weighs each word, so a rare word counts more
        than a common one, and a word the course never uses counts fully against every passage).
        The `limit` best by BM25 (title 3, body 1) are scored; ties go to BM25."""
        words = [w.replace('"', "") for w in words[:MAX_WORDS] if w.replace('"', "")]
        if not words:
            return []
        with self.lock:
            weight = {w: self._idf(w) for w in words}
            # Words in more than a tenth of the passages find everything and rank nothing (and make
            # BM25 score most of the index): candidates come from the rarer ones, at least two.
            common = max(COMMON_FLOOR, len(self.passages) // 10)
            by_rarity = sorted(words, key=lambda w: self._df[w])
            seeking = [w for w in by_rarity if self._df[w] <= common] or by_rarity[:2]
            rows = self.db.execute(
                "SELECT rowid, key, bm25(passages, 3.0, 1.0) FROM passages WHERE passages MATCH ? "
                "ORDER BY bm25(passages, 3.0, 1.0) LIMIT ?",
                (" OR ".join(f'"{w}"' for w in seeking), limit),
            ).fetchall()
            rows = [r for r in rows if r[1] in self.passages]
            if not rows:
                return []
            marks = ",".join("?" for _ in rows)
            covered: dict[int, float] = {}
            for w in words:
                found = self.db.execute(
                    f"SELECT rowid FROM passages WHERE passages MATCH ? AND rowid IN ({marks})",
                    (f'"{w}"', *[r[0] for r in rows]),
                ).fetchall()
                for (rowid,) in found:
                    covered[rowid] = covered.get(rowid, 0.0) + weight[w]
        total = sum(weight.values())
        scored = [
            Hit(self.resolve(self.passages[key]), covered.get(rowid, 0.0) / total, rank) for rowid, key, rank in rows
        ]
        best: dict[str, Hit] = {}
        for hit in sorted(scored, key=lambda h: (-round(h.score, 6), h.rank)):
            best.setdefault(hit.passage.key, hit)  # an exercise and its lesson: once, at the better score
        return list(best.values())

    def _idf(self, word: str) -> float:
        """BM25's idf of a word over the passages (its document count cached until the index
        grows or shrinks)."""
        if abs(self._df_size - len(self.passages)) > self._df_size // 100:  # grown or shrunk by 1%
            self._df, self._df_size = {}, len(self.passages)
        if word not in self._df:
            (self._df[word],) = self.db.execute(
                "SELECT count(*) FROM passages WHERE passages MATCH ?", (f'"{word}"',)
            ).fetchone()
        n, df = len(self.passages), self._df[word]
        # A word the course never uses counts against every passage, but as a common word does:
        # learners say "flip" or "IndexError" where the course says "reverse" or "index".
        return math.log(1 + (n - max(df, UNKNOWN_DF) + 0.5) / (max(df, UNKNOWN_DF) + 0.5))

    def search(self, words: list[str], k: int, allowed: Callable[[Passage], bool]) -> list[Passage]:
        """The `k` best passages for `words` that `allowed` lets through."""
        return [h.passage for h in self.hits(words) if allowed(h.passage)][:k]


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # the share of the query's idf weight the passage matches, 0 to 1
    rank: float  # BM25 as SQLite gives it (lower is better)


def build() -> tuple[Index, datetime]:
    """Every content document read once, indexed: the rebuild job's work (and an instance's own,
    when no bucket shares a snapshot). Returns the index and when its reads began."""
    started = store.now()
    index = Index()
    for collection, read in READERS.items():
        for doc in _query(collection).stream():
            index.put(collection, doc.id, read(doc.id, doc.to_dict() or {}))
    return index, started


class ContentIndex:
    """The instance's index, when it was loaded and refreshed.

    With a shared snapshot (a bucket configured) a reply never builds the index: it loads the
    snapshot the `chat-index-rebuild` job writes, and refreshes what changed since. A new instance
    that finds none asks the job to run once and waits for it, up to `tutor_index_wait_seconds`;
    then it answers from what it has (nothing: `ready` is false) and looks again after
    `SNAPSHOT_RETRY_SECONDS`. Without a bucket (the local stack, most tests) it builds its own."""

    def __init__(self) -> None:
        self.index: Index | None = None
        self.built_at = 0.0
        self.refreshed_at = 0.0
        self.since: datetime | None = None
        self.lock = threading.Lock()
        self.requested = False

    @property
    def ready(self) -> bool:
        return self.since is not None

    def current(self) -> Index:
        cfg = settings()
        clock = time.monotonic()
        with self.lock:
            if self.index is None or clock - self.built_at >= cfg.tutor_index_rebuild_seconds:
                self._load()
            elif self.since is not None and clock - self.refreshed_at >= cfg.tutor_index_refresh_seconds:
                self._refresh()
            assert self.index is not None
            return self.index

    def _load(self) -> None:
        from functions.chat import snapshot

        if not snapshot.shared():
            self.index, self.since = build()
            self.built_at = self.refreshed_at = time.monotonic()
            return
        saved = snapshot.load()
        if saved is None and self.index is None:
            saved = self._wait_for_job()
        if saved is not None and (self.since is None or saved.since > self.since):
            age = max(0.0, (store.now() - saved.since).total_seconds())
            self.index, self.since = saved.index, saved.since
            self.built_at = time.monotonic() - min(age, settings().tutor_index_rebuild_seconds)
            self._refresh()
            return
        if self.index is None:
            self.index = Index()  # nothing yet: the reply says so (`ready` is false)
        # Look again soon (the job may be running), or at the next rebuild interval.
        wait = settings().tutor_index_rebuild_seconds - (SNAPSHOT_RETRY_SECONDS if not self.ready else 0)
        self.built_at = time.monotonic() - max(0, wait)
        if self.ready:
            self._refresh()

    def _wait_for_job(self) -> Any:
        """Ask the rebuild job to run (once per instance) and wait for its snapshot."""
        from functions.chat import snapshot
        from shared.events import publish

        if not self.requested:
            self.requested = True
            publish(snapshot.REBUILD_TOPIC, {"job": snapshot.REBUILD_JOB})
        deadline = time.monotonic() + settings().tutor_index_wait_seconds
        while time.monotonic() < deadline:
            time.sleep(SNAPSHOT_POLL_SECONDS)
            saved = snapshot.load()
            if saved is not None:
                return saved
        return None

    def _refresh(self) -> None:
        assert self.index is not None and self.since is not None
        started = store.now()
        since = self.since - REFRESH_OVERLAP
        for collection, read in READERS.items():
            for found in _query(collection).where(filter=FieldFilter("updated_at", ">", since)).stream():
                self.index.put(collection, found.id, read(found.id, found.to_dict() or {}))
        self.since = started
        self.refreshed_at = time.monotonic()

    def forget(self) -> None:
        with self.lock:
            self.index, self.since, self.requested = None, None, False


CONTENT = ContentIndex()


def verify(index: Index, passages: list[Passage]) -> list[Passage]:
    """The passages as their documents are now (one batched read): an edited passage comes back
    edited, a deleted one not at all (and leaves the index)."""
    if not passages:
        return []
    wanted = {(p.collection, p.doc_id) for p in passages}
    fresh: dict[tuple[str, str], dict[str, Any] | None] = {}
    for collection in sorted({c for c, _ in wanted}):
        refs = [store.db().collection(collection).document(d) for c, d in sorted(wanted) if c == collection]
        projection = EXERCISE_FIELDS if collection == EXERCISES else None
        for snapshot in store.db().get_all(refs, field_paths=projection):
            fresh[(collection, snapshot.id)] = snapshot.to_dict() if snapshot.exists else None
    for (collection, doc_id), data in fresh.items():
        if data is None:
            index.drop(collection, doc_id)
        else:
            index.put(collection, doc_id, READERS[collection](doc_id, data))
    out = []
    for p in passages:
        current = index.get(p.kind, p.id)
        if current is not None and fresh.get((p.collection, p.doc_id)) is not None:
            out.append(current)
    return out
