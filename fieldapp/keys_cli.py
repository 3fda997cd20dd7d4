"""`fieldapp keys`: the keys of the field-level encryption of personal data (fieldapp.crypto)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from fieldapp import crypto
from fieldapp.db import db
from fieldapp.services import party_data

keys_cli = AppGroup("keys", help="Encryption keys of personal data: show, rotate.")


@keys_cli.command("show")
@with_appcontext
def keys_show() -> None:
    """Where the keys are, their ids and which one new values use (never the keys)."""
    try:
        ring = crypto.keyring()
    except crypto.KeyringError as err:
        raise click.ClickException(str(err)) from None
    where = ring.source or "FIELDAPP_DATA_KEYS"
    click.echo(f"keys: {where}\nids: {', '.join(ring.keys)}\ncurrent: {ring.current}")


@keys_cli.command("rotate")
@click.option(
    "--reencrypt-only",
    is_flag=True,
    help="Keep the keys; re-encrypt old values with the current key (after adding a key "
    "to FIELDAPP_DATA_KEYS yourself).",
)
@with_appcontext
def keys_rotate(reencrypt_only: bool) -> None:
    """Add a data key, make it current, and re-encrypt every stored value with it. Old keys
    stay in the keyring (values remain readable); remove one only after this has run."""
    from fieldapp import migrate

    if migrate.current_revision(db.engine) is None:
        raise click.ClickException(
            "the database is not migrated: run `fieldapp db upgrade` first (a rotation "
            "re-encrypts the values stored in it)"
        )
    try:
        ring = crypto.keyring()
        if not reencrypt_only:
            if ring.source is None:
                raise click.ClickException(
                    "The keys come from FIELDAPP_DATA_KEYS: add a key there (and make it "
                    "current), restart, then run `fieldapp keys rotate --reencrypt-only`."
                )
            ring = crypto.add_key(ring)
            current_app.extensions.pop("fieldapp.keyring", None)
            ring = crypto.keyring()
            click.echo(f"new key {ring.current} written to {ring.source}")
        changed = party_data.rotate(db.session, ring)
        staff = party_data.rotate_user_phones(db.session, ring)
        roster = party_data.rotate_roster_id_numbers(db.session, ring)
    except crypto.KeyringError as err:
        raise click.ClickException(str(err)) from None
    click.echo(
        f"re-encrypted {changed} parties, {staff} staff phones and {roster} roster ID numbers "
        f"with key {ring.current}"
    )
