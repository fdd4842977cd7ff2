"""`mash-hub keys ...`: rotate the master key and agency keys.

Both commands re-wrap keys in one unit of work and never re-encrypt content. Neither prints
a key: only key ids (fingerprints) and what the operator must do next.

Registered on the main command with ``cli.add_command(keys)``.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import click

from mash_hub.commands import HubContext, unit_of_work
from mash_hub.config import DEVELOPMENT_MASTER_KEY

NEW_MASTER_KEY_ENV = "MASH_NEW_MASTER_KEY"


@click.group("keys")
def keys() -> None:
    """Rotate the master key or an agency's key (re-wrapping; content is not re-encrypted)."""


def _new_master_key(new_key_file: Path | None) -> bytes:
    from_env = os.environ.get(NEW_MASTER_KEY_ENV, "").strip()
    if new_key_file is not None and from_env:
        raise click.UsageError(f"give the new key with --new-key-file or {NEW_MASTER_KEY_ENV}")
    if new_key_file is not None:
        try:
            text = new_key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise click.ClickException(f"cannot read {new_key_file}: {err}") from err
        source = str(new_key_file)
    elif from_env:
        text, source = from_env, NEW_MASTER_KEY_ENV
    else:
        raise click.UsageError(
            f"give the new master key with --new-key-file PATH or {NEW_MASTER_KEY_ENV} "
            "(32 random bytes, base64-encoded)"
        )
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as err:
        raise click.ClickException(f"{source}: the new master key is not base64") from err
    if len(key) != 32:
        raise click.ClickException(
            f"{source}: the new master key must be 32 bytes, base64-encoded (got {len(key)})"
        )
    return key


@keys.command("rotate-master")
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the new master key, base64 (default: ${NEW_MASTER_KEY_ENV}).",
)
@click.pass_obj
def rotate_master_command(hub: HubContext, new_key_file: Path | None) -> None:
    """Re-wrap every agency key (and re-seal TOTP secrets) under a new master key.

    The current master key comes from the configuration, as for every command. Make the
    new one with, for example, `openssl rand -base64 32`.
    """
    from mash_hub.crypto import keys as key_service

    new_master = _new_master_key(new_key_file)
    settings = hub.settings
    old_master = settings.master_key_bytes()
    if new_master == old_master:
        raise click.ClickException("the new master key is the one configured now")
    if settings.app.production and new_master == base64.b64decode(DEVELOPMENT_MASTER_KEY):
        raise click.ClickException("production mode refuses the development master key")
    try:
        with unit_of_work(hub) as db:
            result = key_service.rotate_master_detailed(db, old_master, new_master)
    except key_service.KeyRotationError as err:
        raise click.ClickException(f"nothing was changed: {err}") from err
    click.echo(
        f"master key rotated: {result.old_master_key_id} -> {result.new_master_key_id}; "
        f"{result.agency_keys} agency keys re-wrapped, {result.totp_secrets} TOTP secrets "
        "re-sealed; content was not re-encrypted."
    )
    click.echo("Do this now, or no process can read protected content or check MFA codes:")
    click.echo(
        "  1. Put the new key in the configuration of every process (web, scheduler, "
        "commands): [keys] master_key_file, or MASH_KEYS__MASTER_KEY."
    )
    click.echo("  2. Restart them all; until then they hold the old key and are refused.")
    click.echo(
        f"  3. Unset {NEW_MASTER_KEY_ENV} and remove any copy of the new key outside its key store."
    )
    click.echo(
        f"  4. Keep the old key ({result.old_master_key_id}) only as long as backups taken "
        "before now are kept (restoring one needs it); then destroy it."
    )


@keys.command("rotate-agency")
@click.argument("agency_code", metavar="CODE")
@click.pass_obj
def rotate_agency_command(hub: HubContext, agency_code: str) -> None:
    """Give agency CODE a new key version and re-wrap its data keys under it.

    The old version's wrapped material is destroyed; content is not re-encrypted.
    """
    from mash_hub.crypto import keys as key_service

    master = hub.settings.master_key_bytes()
    try:
        with unit_of_work(hub) as db:
            count = key_service.rotate_agency(db, agency_code, master)
            active = key_service.active_agency_key(db, agency_code)
            version = active.version if active is not None else 0
    except key_service.KeyRotationError as err:
        raise click.ClickException(f"nothing was changed: {err}") from err
    retired = f"version {version - 1} retired and destroyed" if version > 1 else "first key"
    click.echo(
        f"agency {agency_code}: key version {version} active ({retired}); "
        f"{count} data keys re-wrapped; content was not re-encrypted."
    )
