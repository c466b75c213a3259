"""Audit: the admins' view of the security trail (written by shared.audit)."""
