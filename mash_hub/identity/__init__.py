"""Agencies, users, roles, sign-in with MFA, sessions and API clients."""
