"""Users routes: the admin list, one user (self or admin), suspension and reactivation."""

from __future__ import annotations

from functions.users import avatar, export, service
from functions.users.models import AvatarOut, ExportOut, StatusIn, UserPatchIn, UsersPage, UsersQuery
from shared import accounts, store
from shared.accounts import UserOut
from shared.http import Call, HttpFunction, Response, Streamed, Upload, roles, self_or_admin

list_route = HttpFunction("users-list", "/api/v1/users")
item_route = HttpFunction("users-item", "/api/v1/users/{id}")
status_route = HttpFunction("users-status", "/api/v1/users/{id}/status")
# Decoding and re-encoding an image takes more memory than JSON.
avatar_route = HttpFunction("users-avatar", "/api/v1/users/{id}/avatar", memory="512Mi")
# Judged by its bytes whatever the type claims (415 when it is none of these).
AVATAR = Upload(("image/png", "image/jpeg", "image/webp"))
export_route = HttpFunction("users-export", "/api/v1/users/{id}/export", memory="512Mi", timeout_seconds=120)


@list_route.get(roles("admin"), query=UsersQuery, response=UsersPage)
def list_users(call: Call[None, UsersQuery]) -> store.Page:
    """Every account, newest first, filtered by `role` and `status` (admin)."""
    q = call.query
    return service.list_users(role=q.role, status=q.status, limit=q.limit, cursor=q.cursor)


@item_route.get(self_or_admin("id"), response=UserOut)
def get_user(call: Call[None, None]) -> UserOut:
    """One user: the user themselves or an admin."""
    return accounts.get_user(call.params["id"])


@item_route.patch(self_or_admin("id"), body=UserPatchIn, response=UserOut, errors=(409,))
def patch_user(call: Call[UserPatchIn, None]) -> UserOut:
    """Edit names, grade, time zone and bio (self or admin); the role (admin only)."""
    changes = call.body.model_dump(exclude_unset=True)
    if changes.get("role") is None:
        changes.pop("role", None)
    for name in ("first_name", "last_name", "timezone"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    if "bio" in changes:
        changes["bio"] = changes["bio"] or None
    return service.update_user(
        actor=call.user, user_id=call.params["id"], changes=changes, client=call.client, now=call.now
    )


@item_route.delete(self_or_admin("id"), status=204)
def archive_user(call: Call[None, None]) -> Response:
    """Archive an account (self or admin): it can no longer sign in."""
    service.archive_user(actor_id=call.user.user_id, user_id=call.params["id"], client=call.client, now=call.now)
    return Response(status=204)


@status_route.patch(roles("admin"), body=StatusIn, response=UserOut, errors=(409,))
def set_status(call: Call[StatusIn, None]) -> UserOut:
    """Suspend or reactivate an account (admin)."""
    return service.set_status(
        actor=call.user,
        user_id=call.params["id"],
        status=call.body.status,
        reason=call.body.reason,
        client=call.client,
        now=call.now,
    )


@avatar_route.put(self_or_admin("id"), response=AvatarOut, raw_body=AVATAR, errors=(409, 415))
def put_avatar(call: Call[None, None]) -> AvatarOut:
    """Set the profile picture (self or admin): a PNG, JPEG or WebP body up to 2 MiB."""
    data = avatar.read_image_body(call.request)
    return avatar.set_avatar(
        actor_id=call.user.user_id, user_id=call.params["id"], data=data, client=call.client, now=call.now
    )


@avatar_route.delete(self_or_admin("id"), status=204, errors=(409,))
def delete_avatar(call: Call[None, None]) -> Response:
    """Remove the profile picture (self or admin)."""
    avatar.remove_avatar(actor_id=call.user.user_id, user_id=call.params["id"], client=call.client, now=call.now)
    return Response(status=204)


@export_route.get(self_or_admin("id"), response=ExportOut, errors=(429,))
def export_user(call: Call[None, None]) -> Streamed:
    """Everything the platform holds about the user, as one JSON document (self or admin)."""
    user_id = call.params["id"]
    chunks = export.export_user(actor_id=call.user.user_id, user_id=user_id, client=call.client, now=call.now)
    disposition = f'attachment; filename="studyhall-export-{user_id}.json"'
    return Streamed(chunks, headers={"Content-Disposition": disposition})
