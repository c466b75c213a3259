"""The tutor's words: the content-only answer, the grounding a model gets, and the exam guard.

The local answer needs no network and no key: it quotes, from the best passages, the sentences
that share the most words with the question, numbers them and names their sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from functions.chat.retrieval import Passage, terms

MAX_QUOTE = 320
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# "the answer is B", "option C is correct", "correct answer: D": a letter given as the answer.
_REVEALS_OPTION = re.compile(
    r"\b(answer|option|choice|correct|right)\b[^.\n]{0,40}\b[A-F]\b(?![a-z])|\b[A-F]\)?\s+is\s+(the\s+)?(correct|right)\b",
    re.IGNORECASE,
)

NOTHING_FOUND = (
    "I could not find this in the course material yet. Try naming the topic, the exercise or the "
    "lesson you are working on, or ask it with different words."
)
EXAM_NOTICE = (
    "You have an exam in progress, so I will not discuss its questions or say which option is "
    "correct; here is background from the lessons and exercises instead."
)

SYSTEM_INSTRUCTION = (
    "You are Studyhall's tutor. Answer the student's last message briefly (at most 150 words), "
    "using only the numbered course passages given; cite them as [1], [2]. If the passages do not "
    "cover the question, say so. Never invent facts, links or sources. Help the student understand; "
    "for a coding exercise give hints, never a full solution."
)
EXAM_INSTRUCTION = (
    " The student is taking an exam right now: never say which option of any question is correct, "
    "and do not solve exam questions; explain concepts only."
)


@dataclass(frozen=True)
class Draft:
    content: str
    sources: list[Passage]


def best_sentences(text: str, words: list[str], limit: int = MAX_QUOTE) -> str:
    """The sentences of `text` richest in `words`, kept in their order, up to `limit` characters."""
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]
    if not sentences:
        return ""
    wanted = set(words)
    scored = sorted(range(len(sentences)), key=lambda i: (-len(wanted & set(terms(sentences[i]))), i))
    chosen: list[int] = []
    length = 0
    for i in scored:
        if chosen and length + len(sentences[i]) > limit:
            continue
        chosen.append(i)
        length += len(sentences[i]) + 1
        if length >= limit:
            break
    quote = " ".join(sentences[i] for i in sorted(chosen))
    return quote if len(quote) <= limit else quote[: limit - 1].rstrip() + "…"


def quotable(p: Passage, words: list[str], *, in_exam: bool) -> str:
    """What of a passage the answer may say: a question's answer only outside an exam."""
    text = best_sentences(p.text, words)
    if p.kind == "question" and p.answer and not in_exam:
        text = f"{best_sentences(p.text, words, 200)} {p.answer}"
    return text


def local_answer(passages: list[Passage], words: list[str], *, in_exam: bool) -> Draft:
    if not passages:
        return Draft(content=(EXAM_NOTICE + "\n\n" if in_exam else "") + NOTHING_FOUND, sources=[])
    lines = []
    if in_exam:
        lines.append(EXAM_NOTICE)
    lines.append("Here is what the course material says:")
    for n, p in enumerate(passages, start=1):
        lines.append(f"[{n}] {p.title} ({p.kind}): {quotable(p, words, in_exam=in_exam)}")
    lines.append("Ask a follow-up if you want me to go deeper into one of these.")
    return Draft(content="\n\n".join(lines), sources=list(passages))


def grounding(passages: list[Passage], history: list[tuple[str, str]], message: str, *, in_exam: bool) -> str:
    """The prompt a model gets: numbered passages, the recent turns, the student's message."""
    words = terms(message)
    blocks = [
        f'[{n}] {p.kind} "{p.title}": {quotable(p, words, in_exam=in_exam)}' for n, p in enumerate(passages, start=1)
    ]
    turns = [f"{'Student' if role == 'user' else 'Tutor'}: {text[:600]}" for role, text in history]
    return (
        "Course passages:\n"
        + ("\n".join(blocks) or "(none found)")
        + ("\n\nEarlier in this chat:\n" + "\n".join(turns) if turns else "")
        + f"\n\nStudent: {message}"
    )


def system_instruction(*, in_exam: bool) -> str:
    return SYSTEM_INSTRUCTION + (EXAM_INSTRUCTION if in_exam else "")


def reveals_option(text: str) -> bool:
    """Whether a model's text names an option letter as the answer (refused during an exam)."""
    return bool(_REVEALS_OPTION.search(text))


def cited(text: str, passages: list[Passage]) -> list[Passage]:
    """The passages a model's text cites as [n]; all of them when it cites none by number."""
    numbers = {int(n) for n in re.findall(r"\[(\d{1,2})\]", text)}
    chosen = [p for n, p in enumerate(passages, start=1) if n in numbers]
    return chosen or list(passages)
