"""One answer: retrieve the passages, then let the configured model write from them, or compose
the content-only answer (also the fallback whenever the model fails, is over budget, or would
give away an answer during an exam)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from functions.chat import compose, providers
from functions.chat.retrieval import CONTENT, Passage, terms, verify
from shared.logging import get_logger, log_fields

if TYPE_CHECKING:
    from functions.chat.service import Guard

log = get_logger("chat")

TOP_K = 3
SHORT_MESSAGE = 5  # words: a follow-up this short borrows the previous question's words


@dataclass(frozen=True)
class Answer:
    content: str
    sources: list[Passage]
    generated_by: str


def _query_words(
    message: str, history: list[tuple[str, str]], topic: str | None, context_title: str | None
) -> list[str]:
    words = terms(message)
    if len(words) <= SHORT_MESSAGE:
        previous = next((text for role, text in reversed(history) if role == "user"), "")
        words += [w for w in terms(previous) if w not in words]
    for extra in (context_title, topic):
        words += [w for w in terms(extra or "") if w not in words]
    return words


def retrieve(
    message: str,
    history: list[tuple[str, str]],
    topic: str | None,
    context: dict[str, str],
    guard: Guard,
) -> list[Passage]:
    """The best passages for the message; during an exam never a question of the bank, and
    never a question of a practice session that the student has not answered yet."""
    index = CONTENT.current()

    def allowed(p: Passage) -> bool:
        # During an exam no question passage at all, not only the exam's own: the bank's other
        # questions can be near copies of them, and their explanations name the correct option.
        return p.kind != "question" or not (guard.in_exam or p.id in guard.unanswered)

    kind, source_id = next(iter(context.items()), ("", ""))
    focus = (
        index.get(kind.removesuffix("_id"), source_id) if kind in ("exercise_id", "question_id", "lesson_id") else None
    )
    if focus is not None and not allowed(focus):
        focus = None
    words = _query_words(message, history, topic, focus.title if focus else None)
    found = index.search(words, TOP_K, allowed)
    if focus is not None:
        found = [focus, *[p for p in found if p.key != focus.key][: TOP_K - 1]]
    return verify(index, found)


def answer(
    *,
    message: str,
    history: list[tuple[str, str]],
    topic: str | None,
    context: dict[str, str],
    guard: Guard,
    now: datetime,
) -> Answer:
    in_exam = guard.in_exam
    passages = retrieve(message, history, topic, context, guard)
    words = terms(message)
    local = compose.local_answer(passages, words, in_exam=in_exam)
    provider = providers.configured()
    if provider is None:
        return Answer(local.content, local.sources, "local")
    try:
        generated = providers.call(
            provider,
            compose.system_instruction(in_exam=in_exam),
            compose.grounding(passages, history, message, in_exam=in_exam),
            now,
        )
        if in_exam and compose.reveals_option(generated.text):
            raise providers.ProviderError("the model named an option during an exam")
    except providers.ProviderError as exc:
        log.warning(
            "tutor model failed; content-only answer", extra=log_fields(provider=provider.name, reason=str(exc))
        )
        return Answer(local.content, local.sources, "local")
    return Answer(generated.text, compose.cited(generated.text, passages), provider.name)
