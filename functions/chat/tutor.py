"""One answer: retrieve what the caller may see, then let the configured model write from it, or
compose the content-only answer (also the fallback whenever the model fails, is over budget, or
would give away an answer).

Retrieval follows the learner (docs/chat.md, "Retrieval"): the current message leads; earlier
turns count only when the message follows up on them ("why?", "and the second one?"), and then
as a bias toward what the previous reply cited, never outweighing the message; the session's
context item gets a bias too. Below `RELEVANT` the course has nothing on the question, and the
tutor says so. What may be cited is decided by the one answer rule (`shared.answers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from functions.chat import compose, providers
from functions.chat.retrieval import CONTENT, Hit, Index, Passage, terms, verify
from shared import answers
from shared.logging import get_logger, log_fields

log = get_logger("chat")

TOP_K = 3
# Calibrated on the evaluation set (tests/tutor_eval, docs/chat.md "Honesty"): the best passage
# must match at least this share of the message's idf weight, else the course has nothing on it.
RELEVANT = 0.5
KEEP = 0.75  # a second or third source is cited only with at least this share of the best's score
CONTEXT_BIAS = 0.25  # the session's exercise, lesson or question
FOLLOW_UP_BIAS = 0.35  # what the previous reply cited, when the message follows up on it
PICKED_BIAS = 0.6  # the source a follow-up names by its place ("the second one")
FOLLOW_UP_WORDS = 2
QUESTION_CANDIDATES = 8  # bank questions checked against the answer rule per reply (one read each)

# A message that leans on the previous turn: a pronoun or an ordinal, "why", "and ...", "what about".
_FOLLOW_UP = re.compile(
    r"^\s*(why|how come|and|but|so|then|ok|okay|what about|how about)\b"
    r"|\b(it|its|that|this|those|these|them|they|one|ones|more|again|example|first|second|third|last|other|same)\b",
    re.IGNORECASE,
)
# "just tell me the correct option", "which one is right", "what's the answer".
_ASKS_FOR_ANSWER = re.compile(
    r"\b(correct|right|true)\s+(option|answer|choice|letter|one)\b|\bwhich\s+(option|answer|choice|letter)\b"
    r"|\b(the|just|give me the)\s+answer\b",
    re.IGNORECASE,
)
# A message of at least PASTED_WORDS words that matches a bank question this closely is that
# question pasted; a short concept question ("what is a watering hole attack") is not.
ASKED_STRAIGHT = 0.8
PASTED_WORDS = 5
_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1}


@dataclass(frozen=True)
class Turn:
    """An earlier message of the session: who said it, what, and what it cited."""

    role: str
    content: str
    sources: list[tuple[str, str]] = field(default_factory=list)  # (kind, id)


@dataclass(frozen=True)
class Retrieved:
    passages: list[Passage]
    in_exam: bool  # an exam of the caller's is in progress: no bank question at all
    withheld: bool  # the best match was a question the caller may not see
    words: list[str]
    # Relevant practice questions matched that the caller has not earned: the course does cover
    # the topic, so "nothing in the course" would not be true.
    locked: bool = False
    ready: bool = True  # false while a new instance has no index yet (docs/chat.md, "Retrieval")


@dataclass(frozen=True)
class Answer:
    content: str
    sources: list[Passage]
    generated_by: str


def follows_up(message: str, words: list[str], best: float) -> bool:
    """Whether a message leans on the previous turn: it has no words of its own, or it has a
    follow-up cue ("it", "why", "and the second one") and either few words of its own (at most
    `FOLLOW_UP_WORDS`) or words that do not find the course confidently."""
    cue = bool(_FOLLOW_UP.search(message))
    return not words or (cue and (len(words) <= FOLLOW_UP_WORDS or best < RELEVANT))


def _picked(message: str, previous: list[tuple[str, str]]) -> tuple[str, str] | None:
    for word in re.findall(r"[a-z0-9]+", message.lower()):
        if word in _ORDINALS and previous:
            place = _ORDINALS[word]
            if place < len(previous):
                return previous[place]
    return None


def _biased(index: Index, hits: list[Hit], key: tuple[str, str], bias: float, floor: float) -> list[Hit]:
    """`hits` with the passage `key` raised by `bias` (added at `floor` when the words missed it)."""
    found = next((h for h in hits if (h.passage.kind, h.passage.id) == key), None)
    if found is None:
        passage = index.get(*key)
        if passage is None:
            return hits
        found = Hit(passage, floor - bias, 0.0)
    raised = Hit(found.passage, found.score + bias, found.rank)
    return [raised, *[h for h in hits if h is not found]]


def candidates(index: Index, message: str, history: list[Turn], context: dict[str, str]) -> list[Hit]:
    """The message's passages, best first, with the follow-up and context biases applied."""
    words = terms(message)
    hits = index.hits(words)
    best = hits[0].score if hits else 0.0
    previous_user = next((t for t in reversed(history) if t.role == "user"), None)
    previous_reply = next((t for t in reversed(history) if t.role == "assistant"), None)
    if previous_user is not None and follows_up(message, words, best):
        # The earlier question's words join the message's; what the reply cited leads.
        hits = index.hits(words + [w for w in terms(previous_user.content) if w not in words])
        cited = previous_reply.sources if previous_reply is not None else []
        for key in reversed(cited):
            hits = _biased(index, hits, key, FOLLOW_UP_BIAS, RELEVANT)
        picked = _picked(message, cited)
        if picked is not None:
            hits = _biased(index, hits, picked, PICKED_BIAS, RELEVANT)
    kind, source_id = next(iter(context.items()), ("", ""))
    if kind in ("exercise_id", "question_id", "lesson_id"):
        weak = not hits or hits[0].score < RELEVANT
        key = (kind.removesuffix("_id"), source_id)
        if weak or any((h.passage.kind, h.passage.id) == key for h in hits):
            hits = _biased(index, hits, key, CONTEXT_BIAS, RELEVANT)
    return sorted(hits, key=lambda h: (-round(h.score, 6), h.rank))


def retrieve(message: str, history: list[Turn], context: dict[str, str], viewer: answers.Viewer) -> Retrieved:
    """The passages to answer from: relevant enough, and each one the caller may see."""
    index = CONTENT.current()
    if not CONTENT.ready:
        return Retrieved(passages=[], in_exam=False, withheld=False, words=[], ready=False)
    hits = [h for h in candidates(index, message, history, context) if h.score >= RELEVANT]
    running = answers.questions_in_running_exams(viewer.user_id)
    asked = [h.passage.id for h in hits if h.passage.kind == "question"][:QUESTION_CANDIDATES]
    citable = answers.citable_questions(viewer, asked, running=running) if asked and not running else frozenset()
    allowed = [h for h in hits if h.passage.kind != "question" or h.passage.id in citable]
    # Asked for a question the caller may not see (its text, or "just tell me the option: ..."):
    # Khanmigo's answer, not the key. A general question that merely brushes one is not that.
    top = hits[0] if hits else None
    withheld = (
        top is not None
        and top.passage.kind == "question"
        and top.passage.id not in citable
        and (
            (top.score >= ASKED_STRAIGHT and len(terms(message)) >= PASTED_WORDS)
            or bool(_ASKS_FOR_ANSWER.search(message))
        )
    )
    chosen: list[Hit] = []
    for hit in allowed:
        if len(chosen) < TOP_K and (not chosen or hit.score >= KEEP * chosen[0].score):
            chosen.append(hit)
    return Retrieved(
        passages=verify(index, [h.passage for h in chosen]),
        in_exam=bool(running),
        withheld=withheld,
        words=terms(message),
        locked=any(h.passage.kind == "question" and h.passage.id not in citable for h in hits),
    )


def answer(
    *,
    message: str,
    history: list[Turn],
    context: dict[str, str],
    viewer: answers.Viewer,
    now: datetime,
) -> Answer:
    found = retrieve(message, history, context, viewer)
    if not found.ready:
        return Answer(compose.NOT_READY, [], "local")
    local = compose.local_answer(
        found.passages, found.words, in_exam=found.in_exam, withheld=found.withheld, locked=found.locked
    )
    provider = providers.configured()
    if provider is None or not found.passages:
        return Answer(local.content, local.sources, "local")
    try:
        generated = providers.call(
            provider,
            compose.system_instruction(in_exam=found.in_exam),
            compose.grounding(found.passages, [(t.role, t.content) for t in history], message, in_exam=found.in_exam),
            now,
        )
        if compose.reveals_option(generated.text) and not compose.states_a_key(found.passages, found.in_exam):
            raise providers.ProviderError("the model named an option it was not given")
    except providers.ProviderError as exc:
        log.warning(
            "tutor model failed; content-only answer", extra=log_fields(provider=provider.name, reason=str(exc))
        )
        return Answer(local.content, local.sources, "local")
    return Answer(generated.text, compose.cited(generated.text, found.passages), provider.name)
