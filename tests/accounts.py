"""A user made for a test, with what is needed to sign in as them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mash_hub.authz.permissions import Role


@dataclass
class Account:
    email: str
    password: str
    seed: bytes | None
    user_id: uuid.UUID
    agency: str
    roles: frozenset[Role]
