"""Declared endpoints and the principal of a request.

`@requires(Permission.X)` or `@public` on every view; `create_app` refuses to build an app
with an endpoint that declares neither. The check itself runs in `before_request` (see
`mash_hub.web.gate`), so a view body only ever runs for a principal holding its permission.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from flask import Flask, g
from werkzeug.exceptions import Unauthorized

from mash_hub.authz.permissions import Permission, Role, Scope

F = TypeVar("F", bound=Callable[..., object])

_PERMISSION_ATTR = "__mash_permission__"
_PUBLIC_ATTR = "__mash_public__"


class UndeclaredEndpointError(RuntimeError):
    """An endpoint declares neither @requires nor @public."""


def requires(permission: Permission) -> Callable[[F], F]:
    if not isinstance(permission, Permission):
        raise TypeError(f"@requires takes a Permission, got {permission!r}")

    def mark(view: F) -> F:
        setattr(view, _PERMISSION_ATTR, permission)
        return view

    return mark


def public(view: F) -> F:
    setattr(view, _PUBLIC_ATTR, True)
    return view


def declared_permission(view: Callable[..., object]) -> Permission | None:
    permission: Permission | None = getattr(view, _PERMISSION_ATTR, None)
    return permission


def is_public(view: Callable[..., object]) -> bool:
    return bool(getattr(view, _PUBLIC_ATTR, False))


def check_every_endpoint_declared(app: Flask) -> None:
    missing = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if view is None or not (is_public(view) or declared_permission(view)):
            missing.append(f"{rule.endpoint} ({rule.rule})")
    if missing:
        raise UndeclaredEndpointError(
            "endpoints must declare @requires(...) or @public: " + ", ".join(sorted(missing))
        )


@dataclass(frozen=True)
class Principal:
    """Who is asking: a person signed in with MFA, or an agency system with a token."""

    kind: Literal["user", "client"]
    id: str
    agency: str
    roles: frozenset[Role]
    scopes: frozenset[Scope]
    permissions: frozenset[Permission]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def current_principal() -> Principal | None:
    principal: Principal | None = g.get("principal")
    return principal


def acting_principal() -> Principal:
    """Who is asking, in a view behind the gate: the gate always sets it for a declared
    endpoint, so its absence is answered 401 (a page or the API's JSON, alike)."""
    principal = current_principal()
    if principal is None:
        raise Unauthorized()
    return principal
