"""Secrets that other packages seal under keys derived from the master key, and how each is
re-sealed when the master key rotates.

Identity registers its TOTP seeds when it is imported (the app always imports it): crypto
cannot import identity, which builds on it, and a master rotation that skipped them would
leave nobody able to sign in.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

# (db, old master key, new master key) -> how many secrets were re-sealed.
Resealer = Callable[[Session, bytes, bytes], int]

_RESEALERS: dict[str, Resealer] = {}


class ResealError(Exception):
    """A secret opens under neither master key; the rotation stops."""


def register(name: str, resealer: Resealer) -> None:
    """Re-seal `name` (the sealed column, e.g. "users.totp_secret_sealed") on rotation."""
    _RESEALERS[name] = resealer


def registered() -> list[str]:
    """The sealed columns registered (e.g. "users.totp_secret_sealed")."""
    return sorted(_RESEALERS)


def reseal_all(db: Session, old_master: bytes, new_master: bytes) -> int:
    """Re-seal every registered secret under `new_master`; returns how many were."""
    return sum(reseal(db, old_master, new_master) for reseal in _RESEALERS.values())
