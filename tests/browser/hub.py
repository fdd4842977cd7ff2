"""What the browser tests do to a live hub besides clicking: pick a demo user, sign in with
a fresh security code, and call the JSON API as a demo agency system."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from mash_hub.identity import services as identity


def demo_user(hub: Any, agency: str, role: str) -> dict[str, str]:
    return next(u for u in hub.credentials["users"] if u["agency"] == agency and u["role"] == role)


def security_code(secret_text: str, later: timedelta = timedelta(0)) -> str:
    """The code an authenticator shows now (or `later`: the next code, once this one is
    spent, because a code is accepted once)."""
    return identity.totp_code(base64.b32decode(secret_text), datetime.now(UTC) + later)


def sign_in(page: Any, hub: Any, user: dict[str, str]) -> None:
    page.goto(f"{hub.url}/sign-in")
    page.get_by_label("Email address").fill(user["email"])
    page.get_by_label("Password", exact=True).fill(user["password"])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/sign-in/security-code$"))
    page.get_by_label("Security code").fill(security_code(user["totp_secret"]))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{hub.url}/")


def api_call(url: str, method: str, body: Any = None, headers: dict | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the live hub on localhost
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def api_token(hub: Any, agency: str, scope: str = "screening:write") -> dict[str, str]:
    """A bearer header for the demo system of `agency` holding `scope`."""
    client = next(
        c for c in hub.credentials["clients"] if c["agency"] == agency and scope in c["scopes"]
    )
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the live hub on localhost
        f"{hub.url}/oauth/token",
        data=b"grant_type=client_credentials",
        method="POST",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return {"Authorization": f"Bearer {json.loads(response.read())['access_token']}"}


def fill_date(page: Any, legend: str, typed: str) -> None:
    """Type `typed` (30/11/2026) into the GOV.UK date input whose legend is `legend`."""
    day, month, year = typed.split("/")
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(day)
    group.get_by_label("Month").fill(month)
    group.get_by_label("Year").fill(year)
