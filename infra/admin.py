"""Operator commands. The first admin of a deployment:

    STUDYHALL_ADMIN_PASSWORD=... python -m infra.admin create-admin \\
        --email ada@example.com --first-name Ada --last-name Lovelace

Without STUDYHALL_ADMIN_PASSWORD the password is asked for (twice, not echoed). It runs against
whatever the environment names: real Firestore with GOOGLE_CLOUD_PROJECT and application default
credentials, or the emulator with FIRESTORE_EMULATOR_HOST. Further admins are made by an admin
through the API (`PATCH /api/v1/users/{id}` with `{"role": "admin"}`).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence

from google.api_core import exceptions as gexc

from shared import accounts, audit, store
from shared.auth import hash_password, new_id
from shared.emails import normalize_email
from shared.errors import Conflict
from shared.events import StagedEvent
from shared.passwords import password_problem
from shared.registration import create_account


def _password() -> str:
    from_env = os.environ.get("STUDYHALL_ADMIN_PASSWORD")
    if from_env:
        return from_env
    first = getpass.getpass("Password for the new admin: ")
    if getpass.getpass("Repeat it: ") != first:
        raise SystemExit("The passwords differ; nothing was created.")
    return first


def create_admin(email: str, first_name: str, last_name: str, password: str) -> str:
    """Create an active admin account; returns its id. Refuses a taken email or a weak password."""
    try:
        email = normalize_email(email)
    except ValueError:
        email = ""
    if not email or not first_name.strip() or not last_name.strip():
        raise SystemExit("Give a valid email, first name and last name.")
    problem = password_problem(password, email=email)
    if problem:
        raise SystemExit(f"Password refused: {problem}")
    now = store.now()
    user_id = new_id()
    user = accounts.new_user(
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        role="admin",
        grade_level=None,
        password_hash=hash_password(password),
        now=now,
    )

    def create(txn: store.Transaction) -> StagedEvent:
        staged = create_account(txn, user_id, user, now, event_id=event_id)
        audit.record(
            "user.created_by_admin",
            actor_id=None,
            target_id=user_id,
            client=audit.Client(ip="", user_agent="infra.admin create-admin"),
            details={"role": "admin", "via": "cli"},
            at=now,
            writer=txn,
        )
        return staged

    event_id = new_id()
    try:
        staged = store.run_transaction(create)
    except (Conflict, gexc.AlreadyExists) as exc:
        raise SystemExit(f"An account with the email {email} already exists; nothing was created.") from exc
    staged.send()
    return user_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description="Studyhall operator commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-admin", help="create an admin account (the first one, typically)")
    create.add_argument("--email", required=True)
    create.add_argument("--first-name", required=True)
    create.add_argument("--last-name", required=True)
    args = parser.parse_args(argv)
    if args.command == "create-admin":
        user_id = create_admin(args.email, args.first_name, args.last_name, _password())
        print(f"admin created: {normalize_email(args.email)} (id {user_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
