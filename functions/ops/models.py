"""What the operations routes answer."""

from __future__ import annotations

from shared.validation import Out


class JobRunOut(Out):
    job: str
    topic: str
    message_id: str
