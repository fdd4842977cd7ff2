"""The gate: every endpoint declares a permission or that it is public."""

from mash_hub.authz.gate import (
    Principal,
    UndeclaredEndpointError,
    acting_principal,
    check_every_endpoint_declared,
    current_principal,
    public,
    requires,
)
from mash_hub.authz.permissions import Permission, Role, Scope

__all__ = [
    "Permission",
    "Principal",
    "Role",
    "Scope",
    "UndeclaredEndpointError",
    "acting_principal",
    "check_every_endpoint_declared",
    "current_principal",
    "public",
    "requires",
]
