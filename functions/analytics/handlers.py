"""Analytics routes: read the aggregates the event functions keep; nothing is scanned here."""

from __future__ import annotations

from functions.analytics import service
from functions.analytics.models import ClassAnalyticsOut, ExerciseAnalyticsOut, SchoolAnalyticsOut, StudentAnalyticsOut
from shared.auth import STAFF_ROLES
from shared.http import Call, HttpFunction, roles, school_admin_or_admin, student_data

student_route = HttpFunction("analytics-student", "/api/v1/analytics/students/{student_id}")
exercise_route = HttpFunction("analytics-exercise", "/api/v1/analytics/exercises/{exercise_id}")
class_route = HttpFunction("analytics-class", "/api/v1/analytics/classes/{class_id}")
school_route = HttpFunction("analytics-school", "/api/v1/analytics/schools/{school_id}")


@student_route.get(student_data("student_id"), response=StudentAnalyticsOut)
def student(call: Call[None, None]) -> StudentAnalyticsOut:
    """A student's analytics: the student, their teachers, admins."""
    return service.get_student_analytics(call.user, call.params["student_id"], call.now)


@exercise_route.get(roles(*STAFF_ROLES, "admin"), response=ExerciseAnalyticsOut)
def exercise(call: Call[None, None]) -> ExerciseAnalyticsOut:
    """Submissions, pass rate, scores and students of an exercise (teachers and admins)."""
    return service.get_exercise_analytics(call.params["exercise_id"])


@class_route.get(roles(*STAFF_ROLES, "admin"), response=ClassAnalyticsOut)
def klass(call: Call[None, None]) -> ClassAnalyticsOut:
    """A class's aggregate progress: its teacher and admins."""
    return service.get_class_analytics(call.user, call.params["class_id"])


@school_route.get(school_admin_or_admin("school_id"), response=SchoolAnalyticsOut)
def school(call: Call[None, None]) -> SchoolAnalyticsOut:
    """A school's classes, members and aggregate progress: its school admins and admins."""
    return service.get_school_analytics(call.params["school_id"])
