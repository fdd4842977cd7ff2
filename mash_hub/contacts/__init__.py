"""Contacts: intake subjects, their identifiers and matching against known people."""
