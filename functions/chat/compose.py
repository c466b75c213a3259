"""The tutor's words: the content-only answer, the grounding a model gets, and the check of a
model's text after.

The local answer needs no network and no key. Shaped like a tutor: a short explanation from the
best passage (its sentences that share the most words with the message), a guiding question
back, then the numbered sources; or an honest "the course has nothing on this". Only passages
the caller may see reach here (functions.chat.tutor asks shared.answers).
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
    "I could not find anything in the course on this, so I will not guess: the course has nothing on "
    "this question yet. I can help with the coding exercises (FizzBuzz, reversing words, counting "
    "vowels...), the lessons of the learning paths, and the practice questions you have answered. "
    "What are you working on?"
)
# The course covers it, in practice questions the caller has not answered yet: say so, quote nothing.
LOCKED_TOPIC = (
    "The course covers this in practice questions you have not answered yet, so I will not quote "
    "them before you try them: answer them in a practice session, then ask me again and we can go "
    "through every option together. Before that: what do you already know about it?"
)
NOT_READY = "I am still reading the course material, so I cannot answer from it yet. Ask me again in a minute, please."
EXAM_NOTICE = (
    "You have an exam in progress, so I will not discuss its questions or say which option is "
    "correct; here is background from the lessons and exercises instead."
)
# Asked for the option of a question the caller has not earned: explain, ask back (Khanmigo).
NOT_YOURS_YET = (
    "That looks like a practice question you have not answered yet, so I will not say which option "
    "is correct: try it in a practice session first, and then I can go through every option with you."
)
NO_IDEA_TO_SHARE = "Let's reason it out instead."
GUIDING_WITHHELD = (
    "What is the question really asking for, and which option does exactly that? For each of the "
    "others, can you say why it does not fit?"
)

SYSTEM_INSTRUCTION = (
    "You are Studyhall's tutor, a Socratic tutor. Answer the student's last message briefly (at most "
    "150 words), using only the numbered course passages given; cite them as [1], [2]. If the "
    "passages do not cover the question, say so. Never invent facts, links or sources. Explain the "
    "idea, then ask one guiding question back. Never say which option of a question is correct "
    "unless a passage states it. For a coding exercise give hints, never a full solution."
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
    """What of a passage the answer may say: a question's answer only outside an exam (and only
    questions the caller may see reach here: functions.chat.tutor asks shared.answers)."""
    text = best_sentences(p.text, words)
    if p.kind == "question" and p.answer and not in_exam:
        text = f"{best_sentences(p.text, words, 200)} {p.answer}"
    return text


def explanation(p: Passage, words: list[str], *, in_exam: bool) -> str:
    """The short explanation: the best passage's sentences richest in the message's words (a
    question's earned key with its reason, a lesson's or exercise's own sentences)."""
    if p.kind == "question" and p.answer and not in_exam:
        return f"{p.title} {best_sentences(p.answer, words, MAX_QUOTE)}"
    return best_sentences(p.text, words)


def guiding_question(p: Passage) -> str:
    """A question back to the learner, shaped by what the best passage is."""
    if p.kind == "exercise":
        return (
            f'Before you change your code for "{p.title}": what should it print or return for the '
            "smallest input you can think of, and what does it do now?"
        )
    if p.kind == "question":
        return "Can you say in your own words why each of the other options does not fit?"
    return f'How would you explain "{p.title}" in your own words, with an example of your own?'


def sources_line(passages: list[Passage]) -> str:
    return "Sources: " + "; ".join(f"[{n}] {p.title} ({p.kind})" for n, p in enumerate(passages, start=1))


def local_answer(
    passages: list[Passage], words: list[str], *, in_exam: bool, withheld: bool = False, locked: bool = False
) -> Draft:
    """Explanation, guiding question, sources; or, with nothing the caller may see, an honest
    "practice questions you have not answered cover this" or "nothing in the course"."""
    notice = [EXAM_NOTICE] if in_exam else [NOT_YOURS_YET] if withheld else []
    if not passages:
        if withheld and not in_exam:
            return Draft(content="\n\n".join([*notice, NO_IDEA_TO_SHARE, GUIDING_WITHHELD]), sources=[])
        if locked and not in_exam:
            return Draft(content=LOCKED_TOPIC, sources=[])
        return Draft(content="\n\n".join([*notice, NOTHING_FOUND]), sources=[])
    best = passages[0]
    question = GUIDING_WITHHELD if withheld else guiding_question(best)
    lines = [*notice, explanation(best, words, in_exam=in_exam), question, sources_line(passages)]
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
    """Whether a model's text names an option letter as the answer."""
    return bool(_REVEALS_OPTION.search(text))


def states_a_key(passages: list[Passage], in_exam: bool) -> bool:
    """Whether the passages given to a model state a question's key (only keys the caller has
    earned reach here): only then may its text name an option as the answer."""
    return not in_exam and any(p.kind == "question" and p.answer for p in passages)


def cited(text: str, passages: list[Passage]) -> list[Passage]:
    """The passages a model's text cites as [n]; all of them when it cites none by number."""
    numbers = {int(n) for n in re.findall(r"\[(\d{1,2})\]", text)}
    chosen = [p for n, p in enumerate(passages, start=1) if n in numbers]
    return chosen or list(passages)
