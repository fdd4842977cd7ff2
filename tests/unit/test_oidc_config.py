"""[oidc.providers.<name>]: agency identity providers, parsed and checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from mash_hub.config import ConfigError, load_settings

PROVIDER = """
[oidc.providers.police]
display_name = "Police account"
issuer = "https://login.police.example"
client_id = "mash-hub"
client_secret = "from-the-environment-in-production"
agency = "police"

[oidc.providers.police.group_roles]
"MASH-PPD-Screeners" = "screener"
"""


def load(tmp_path: Path, text: str, **env: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path, env)


def test_a_provider_with_its_group_mapping(tmp_path):
    settings = load(tmp_path, PROVIDER)
    police = settings.oidc.providers["police"]
    assert police.issuer == "https://login.police.example"
    assert police.group_roles == {"MASH-PPD-Screeners": "screener"}  # group names keep case
    assert police.scopes == ("openid", "profile", "email")
    assert police.mfa_amr == ("mfa",)
    assert police.algorithms == ("RS256", "PS256", "ES256")


def test_the_secret_can_come_from_the_environment(tmp_path):
    settings = load(tmp_path, PROVIDER, MASH_OIDC__PROVIDERS__POLICE__CLIENT_SECRET="s3cret")
    assert settings.oidc.providers["police"].client_secret == "s3cret"  # noqa: S105


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('agency = "police"', 'agency = "mi5"'), "[oidc.providers.police] agency: expected one"),
        (('"screener"', '"overlord"'), "group_roles: group 'MASH-PPD-Screeners': expected one"),
        (("https://login", "http://login"), "issuer: expected the provider's https://"),
        (('agency = "police"', 'agency = "police"\nalgorithms = ["none"]'), "algorithms:"),
        (('agency = "police"', 'agency = "police"\nalgorithms = ["HS256"]'), "algorithms:"),
        (('agency = "police"', 'agency = "police"\nmfa_amr = []'), "sign-in requires MFA"),
        (('agency = "police"', 'agency = "police"\nscopes = ["email"]'), '"openid"'),
        (('agency = "police"', 'agency = "police"\ncolour = "blue"'), "colour: unknown setting"),
    ],
)
def test_a_bad_provider_stops_the_start_with_one_line(tmp_path, change, message):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, PROVIDER.replace(*change))
    assert message in str(caught.value)
    assert "config.toml" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_provider_needs_a_mapped_group(tmp_path):
    text = PROVIDER.split("[oidc.providers.police.group_roles]")[0]
    with pytest.raises(ConfigError, match="map at least one group"):
        load(tmp_path, text)


def test_production_with_a_provider_needs_the_hubs_https_address(tmp_path):
    production = {
        "MASH_APP__MODE": "production",
        "MASH_APP__SECRET_KEY": "p" * 40,
        "MASH_KEYS__MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    }
    with pytest.raises(ConfigError, match=r"\[app\] public_url: production sign-in"):
        load(tmp_path, PROVIDER, **production)
    settings = load(tmp_path, PROVIDER, MASH_APP__PUBLIC_URL="https://mash.example", **production)
    assert settings.app.public_url == "https://mash.example"
    with pytest.raises(ConfigError, match="expected an https:// URL"):
        load(tmp_path, PROVIDER, MASH_APP__PUBLIC_URL="http://mash.example")
