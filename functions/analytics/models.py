"""What the analytics routes answer."""

from __future__ import annotations

from datetime import date

from shared.validation import Out


class DomainStatOut(Out):
    exam_type: str
    domain: str
    answered: int
    correct: int
    accuracy: float


class TopicStatOut(Out):
    topic: str
    attempts: int
    passed: int
    pass_rate: float


class ExamTypeStatOut(Out):
    exam_type: str
    completed: int
    average_score: float
    best_score: float
    xp: int


class DayOut(Out):
    day: date
    xp: int
    answered: int
    correct: int


class LearningTotalsOut(Out):
    """The totals a student's and a class's analytics share."""

    xp: int
    questions_answered: int
    questions_correct: int
    accuracy: float
    exams_completed: int
    average_exam_score: float
    exercises_passed: int
    lessons_completed: int


class StudentAnalyticsOut(LearningTotalsOut):
    student_id: str
    active_days: int
    current_streak: int
    longest_streak: int
    last_30_days: list[DayOut]
    weakest_domains: list[DomainStatOut]
    exam_types: list[ExamTypeStatOut]
    topics: list[TopicStatOut]


class ExerciseAnalyticsOut(Out):
    exercise_id: str
    attempts: int
    submissions: int
    passed_submissions: int
    pass_rate: float
    average_score: float
    students: int
    students_passed: int
    completion_rate: float
    mastery_rate: float


class ClassAnalyticsOut(LearningTotalsOut):
    class_id: str
    weakest_domains: list[DomainStatOut]


class SchoolAnalyticsOut(LearningTotalsOut):
    """A school: its member counts and active classes (kept on the school), and its members'
    learning summed while they belong to it (`school_stats`)."""

    school_id: str
    name: str
    classes: int
    students: int
    teachers: int
    school_admins: int
    weakest_domains: list[DomainStatOut]
