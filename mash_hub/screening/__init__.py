"""Screening: the queue, claims, decisions with a manager's sign-off, and telling the referrer."""
