"""The tutor's retrieval evaluation, written from the demo content (infra/demo, infra/local):

- `on_topic.json`: learner-style questions in their own words, each labelled with the passages
  a good reply cites (`exercise:<id>`, `lesson:<title>`, `question:<bank id>`); the bank
  questions are asked by a learner who has answered them (their keys earned);
- `off_topic.json`: questions the course does not cover: the reply must cite nothing and say so;
- `conversations.json`: two turns whose second one changes topic (`topic_change`: it must lead)
  or follows up (`follow_up`: the first turn's subject, `@first` / `@second` naming the first
  reply's sources by place).

`evaluate` runs every item through a `Tutor` (the content answer, or a model) and scores it;
tests/test_chat_eval.py holds the thresholds, bench/chat.py prints the figures.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.chat import compose
from functions.chat.retrieval import CONTENT
from functions.chat.tutor import Turn

HERE = Path(__file__).resolve().parent
LEARNER_EMAIL = "student@studyhall.dev"

# What a tutor under test answers: (content, cited (kind, id) pairs) for a message and history.
Tutor = Callable[[str, list[Turn]], tuple[str, list[tuple[str, str]]]]


def cases(name: str) -> Any:
    return json.loads((HERE / f"{name}.json").read_text())


def load_demo_content() -> str:
    """The demo accounts, bank, exercises and paths as `make dev` loads them; the learner has
    answered every bank question (keys earned, as practice records it). Returns the learner's id."""
    from infra.local import demo_exams, demo_exercises, demo_paths, seed
    from shared import store
    from shared.collections import QUESTIONS
    from tests.chat_support import earn

    for account in seed.DEMO_ACCOUNTS:
        seed.ensure_account(account)
    demo_exams.load()
    demo_exercises.load()
    demo_paths.load()
    learner = seed.ensure_account(next(a for a in seed.DEMO_ACCOUNTS if a["email"] == LEARNER_EMAIL))
    bank = [d.id for d in store.db().collection(QUESTIONS).select([]).stream()]
    for start in range(0, len(bank), 400):  # a transaction holds at most 500 writes
        earn(learner, bank[start : start + 400])
    CONTENT.forget()
    return learner


def resolve(label: str) -> tuple[str, str]:
    """A label as the (kind, id) a reply cites: a lesson is named by its title in the data."""
    kind, _, name = label.partition(":")
    if kind != "lesson":
        return kind, name
    index = CONTENT.current()
    found = [p for p in index.passages.values() if p.kind == "lesson" and p.title == name]
    assert found, f"no lesson titled {name!r} in the demo content"
    return kind, found[0].id


@dataclass
class Scores:
    recall_at_3: float = 0.0
    off_topic: float = 0.0
    topic_change: float = 0.0
    follow_up: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"| recall@3 ({self.counts['on_topic']} questions) | {self.recall_at_3:.3f} |",
            f"| off-topic precision ({self.counts['off_topic']} questions) | {self.off_topic:.3f} |",
            f"| topic change accuracy ({self.counts['topic_change']} conversations) | {self.topic_change:.3f} |",
            f"| follow-up accuracy ({self.counts['follow_up']} conversations) | {self.follow_up:.3f} |",
        ]


def honest(content: str, sources: list[tuple[str, str]]) -> bool:
    return not sources and compose.NOTHING_FOUND in content


def evaluate(tutor: Tutor) -> Scores:
    scores = Scores()
    hits = 0
    on_topic = cases("on_topic")
    for item in on_topic:
        _, sources = tutor(item["ask"], [])
        wanted = {resolve(label) for label in item["cite"]}
        if wanted & set(sources[:3]):
            hits += 1
        else:
            scores.misses.append(f"recall: {item['ask']!r} cited {sources}")
    scores.recall_at_3 = hits / len(on_topic)

    off_topic = cases("off_topic")
    fine = 0
    for ask in off_topic:
        content, sources = tutor(ask, [])
        if honest(content, sources):
            fine += 1
        else:
            scores.misses.append(f"off-topic: {ask!r} cited {sources}")
    scores.off_topic = fine / len(off_topic)

    right = {"topic_change": 0, "follow_up": 0}
    total = {"topic_change": 0, "follow_up": 0}
    for conversation in cases("conversations"):
        first, second = conversation["turns"]
        content, cited = tutor(first, [])
        history = [Turn("user", first), Turn("assistant", content, cited)]
        content, sources = tutor(second, history)
        places = {"@first": 0, "@second": 1}
        wanted = {
            (cited[places[label]] if len(cited) > places[label] else ("none", "none"))
            if label in places
            else resolve(label)
            for label in conversation["cite"]
        }
        ok = honest(content, sources) if not wanted else bool(sources) and sources[0] in wanted
        kind = conversation["kind"]
        total[kind] += 1
        right[kind] += ok
        if not ok:
            scores.misses.append(f"{kind}: {conversation['turns']} cited {sources}, wanted {sorted(wanted)}")
    scores.topic_change = right["topic_change"] / total["topic_change"]
    scores.follow_up = right["follow_up"] / total["follow_up"]
    scores.counts = {"on_topic": len(on_topic), "off_topic": len(off_topic), **total}
    return scores


def content_tutor(learner: str) -> Tutor:
    """The tutor as the reply function runs it, for the learner, with no session context."""
    from functions.chat import tutor
    from shared import answers, store

    viewer = answers.Viewer(user_id=learner, role="student")

    def ask(message: str, history: list[Turn]) -> tuple[str, list[tuple[str, str]]]:
        found = tutor.answer(message=message, history=history, context={}, viewer=viewer, now=store.now())
        return found.content, [(p.kind, p.id) for p in found.sources]

    return ask
