"""Student routes: the interest catalogue, a student's interests and profile."""

from __future__ import annotations

from functions.students import service
from functions.students.models import InterestCatalogue, InterestsIn, InterestsOut, ProfileOut, ProfilePatch
from shared.auth import STAFF_ROLES
from shared.http import PUBLIC, SIGNED_IN, Call, HttpFunction, roles

interests_route = HttpFunction("students-interests-catalogue", "/api/v1/interests")
student_interests_route = HttpFunction("students-interests", "/api/v1/students/{student_id}/interests")
profile_route = HttpFunction("students-profile", "/api/v1/students/{student_id}")

READERS = roles("student", *STAFF_ROLES, "admin")
WRITERS = roles("student", "admin")


@interests_route.get(PUBLIC, response=InterestCatalogue)
def catalogue(call: Call[None, None]) -> InterestCatalogue:
    """The interest catalogue students choose from."""
    return InterestCatalogue(items=list(service.catalogue()))


@student_interests_route.get(READERS, response=InterestsOut)
def get_interests(call: Call[None, None]) -> InterestsOut:
    """A student's interests (the student, their teachers, admins)."""
    return service.get_interests(call.user, call.params["student_id"])


@student_interests_route.put(WRITERS, body=InterestsIn, response=InterestsOut)
def set_interests(call: Call[InterestsIn, None]) -> InterestsOut:
    """Choose 1 to 5 interests from the catalogue (replaces the previous choice)."""
    return service.set_interests(call.user, call.params["student_id"], call.body.interest_ids, call.now)


@profile_route.get(SIGNED_IN, response=ProfileOut)
def get_profile(call: Call[None, None]) -> ProfileOut:
    """A student's profile: names, grade level, interests, enrolled classes."""
    return service.get_profile(call.user, call.params["student_id"])


@profile_route.patch(WRITERS, body=ProfilePatch, response=ProfileOut, errors=(409,))
def update_profile(call: Call[ProfilePatch, None]) -> ProfileOut:
    """Change first name, last name or grade level (9 to 12)."""
    changes = call.body.model_dump(exclude_unset=True)
    return service.update_profile(call.user, call.params["student_id"], changes, call.client, call.now)
