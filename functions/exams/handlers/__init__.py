"""Practice exams' functions, one module per concern, so that each function's cold start
imports only its own code (a session route loads none of the CSV import machinery): `bank`
(exam types and questions), `imports` (CSV uploads and the storage trigger), `sessions`
(sessions, history, weak areas, and the events that keep them)."""
