"""The signing key of a development or test stack: drawn per checkout, never a constant.

`make dev` keeps it in `.dev/signing-key` (git-ignored, never uploaded), so tokens survive a
restart of the stack but a token forged on one checkout works on no other. Tests draw a fresh
key per process. Production never comes here: it refuses to start without STUDYHALL_JWT_KEYS.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

KEY_FILE = Path(__file__).resolve().parent.parent / ".dev" / "signing-key"


def local_signing_keys(env: str, key_file: Path | None = None) -> str:
    """STUDYHALL_JWT_KEYS for a stack without one: `{"local-<id>": "<secret>"}`."""
    key_file = key_file or KEY_FILE
    if env == "test":
        return json.dumps({"test-" + secrets.token_hex(4): secrets.token_urlsafe(48)})
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    drawn = key_file.with_name(f".signing-key.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(drawn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"local-" + secrets.token_hex(4): secrets.token_urlsafe(48)}))
    try:
        os.link(drawn, key_file)  # atomic: of two stacks starting at once, the first key wins
    except FileExistsError:
        pass
    finally:
        drawn.unlink()
    return key_file.read_text().strip()
