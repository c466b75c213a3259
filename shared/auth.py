"""Auth primitives: password hashing, access and refresh tokens, the caller, role guards.

Access tokens are short-lived JWTs naming their session (`sid`); every authenticated request
reads that one session document, so logout, password change, suspension and archiving cut a
token off at once (one Firestore read per request, written down in docs/auth.md).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import bcrypt
import jwt

from shared.config import settings
from shared.errors import AccountSuspended, Forbidden, Unauthorized
from shared.registry import expires
from shared.userdata import field, personal

Role = Literal["student", "teacher", "school_admin", "admin"]
ROLES: tuple[Role, ...] = ("student", "teacher", "school_admin", "admin")
# Who teaches: a teacher, or a school admin (a teacher who also runs their school). Staff a
# school vouches for are verified teachers (shared.answers).
STAFF_ROLES: frozenset[str] = frozenset({"teacher", "school_admin"})
AUDIENCE = "studyhall-api"
SESSIONS = personal(expires("sessions"), field("user_id"), omit=("refresh_hash", "spent_hashes"))

# Passwords ---------------------------------------------------------------------------------

# bcrypt reads at most 72 bytes (bcrypt 5 raises beyond). A keyed SHA-256 pre-hash makes every
# byte of a long passphrase count, so nothing is silently truncated.
_PREHASH_CONTEXT = b"studyhall-password-v1"


def _prehash(password: str) -> bytes:
    digest = hmac.new(_PREHASH_CONTEXT, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def hash_password(password: str) -> str:
    rounds = settings().bcrypt_rounds
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


@lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    return hash_password(secrets.token_urlsafe(16)).encode()


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work whether or not the account exists: an unknown email spends one bcrypt too."""
    if not password_hash:
        bcrypt.checkpw(_prehash(password), _dummy_hash())
        return False
    return bcrypt.checkpw(_prehash(password), password_hash.encode())


# Tokens ----------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """Refresh and reset tokens are high-entropy random values: a plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return uuid.uuid4().hex


def issue_access_token(user_id: str, role: str, session_id: str, now: datetime) -> tuple[str, int]:
    cfg = settings()
    kid, key = next(iter(cfg.signing_keys.items()))
    ttl = cfg.access_token_ttl_seconds
    claims = {
        "iss": cfg.jwt_issuer,
        "aud": AUDIENCE,
        "sub": user_id,
        "sid": session_id,
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": new_id(),
    }
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid}), ttl


def decode_access_token(token: str) -> dict[str, Any]:
    cfg = settings()
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = cfg.signing_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthorized("The access token is invalid.")
        return jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=cfg.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "sid", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The access token is invalid.") from exc


# The caller -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    session_id: str
    # The school that vouches for the caller (staff of a school are verified teachers), carried on
    # the session like the role, so shared.answers decides without a read.
    school_id: str | None = None
    # The caller's user document, read with the session when the route's access asks for it
    # (`shared.http.SIGNED_IN_WITH_ACCOUNT`); None otherwise, or when it no longer exists.
    account: dict[str, Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_staff(self) -> bool:
        """A teacher or a school admin: who has a teacher's powers over their own things."""
        return self.role in STAFF_ROLES

    def runs_school(self, school_id: str) -> bool:
        """An admin, or a school admin of this school (from the session: no read)."""
        return self.is_admin or (self.role == "school_admin" and self.school_id == school_id)

    def is_self_or_admin(self, user_id: str) -> bool:
        return self.user_id == user_id or self.is_admin


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Sign in first: the Authorization header is missing.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def session_is_live(session: dict[str, Any] | None, now: datetime) -> bool:
    if not session or session.get("revoked_at") is not None:
        return False
    expires_at = session.get("expires_at")
    return expires_at is None or expires_at > now


def authenticate(authorization: str | None, now: datetime, *, with_account: bool = False) -> Principal:
    """The caller of a request: a valid token whose session is live. One Firestore read; with
    `with_account`, the caller's user document too, in the same round trip (two reads)."""
    from shared.collections import USERS
    from shared.store import db

    claims = decode_access_token(bearer_token(authorization))
    session_ref = db().collection(SESSIONS).document(str(claims["sid"]))
    account = None
    if with_account:
        user_ref = db().collection(USERS).document(str(claims["sub"]))
        found = {s.reference.path: s.to_dict() for s in db().get_all([session_ref, user_ref]) if s.exists}
        session, account = found.get(session_ref.path), found.get(user_ref.path)
    else:
        session = session_ref.get().to_dict()
    if session is None or session.get("user_id") != claims["sub"]:
        raise Unauthorized("The session has ended; sign in again.")
    # Suspension revokes the sessions and marks them: their tokens answer 403 account_suspended.
    if session.get("user_status", "active") == "suspended":
        raise AccountSuspended()
    if not session_is_live(session, now):
        raise Unauthorized("The session has ended; sign in again.")
    role = session.get("role", claims.get("role"))
    if role not in ROLES:
        raise Unauthorized("The access token is invalid.")
    return Principal(
        user_id=claims["sub"],
        role=role,
        session_id=str(claims["sid"]),
        school_id=session.get("school_id"),
        account=account,
    )


def require_role(principal: Principal, roles: Iterable[str]) -> None:
    if principal.role not in set(roles):
        raise Forbidden("Your role does not allow this.")
