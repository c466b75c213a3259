"""Studyhall's handlers: one package per area, each with `handlers.py` (the entry points),
`service.py` (the business rules, plain values in and out) and `models.py` (payloads)."""
