"""Field-level encryption of personal data (parties' ID numbers and phones), with keys held
outside the database.

- Values are encrypted with AES-256-GCM (the `cryptography` package), a fresh 96-bit nonce
  each, and the column's name as associated data, so a value copied into another column
  does not decrypt. Stored as text: `enc1:<key id>:<base64url(nonce + ciphertext + tag)>`.
- Keys carry an id: new values are written with the current key, older ones stay readable
  while their key is in the keyring, and `fieldapp keys rotate` adds a key and re-encrypts.
- Where a value must be found again (the same person in several cases), a keyed hash
  (HMAC-SHA256 with its own key, `lookup`) is stored beside it: equal values give equal
  hashes, a dump without the key cannot test guesses (an ID number has only ~10^10 values
  for a given region and birth date, so an unkeyed hash would be reversed in minutes).

Where the keys are (first found wins):
1. `FIELDAPP_DATA_KEYS`: the key file's JSON itself (for secret stores that hand out env);
2. `FIELDAPP_DATA_KEYS_FILE`: a path;
3. `instance/data_keys.json`, created on first use with mode 0600 (the embedded default).
The file: `{"current": "k1", "keys": {"k1": "<base64 32 bytes>"}, "lookup": "<base64>"}`.
Back it up apart from the database: without it the values cannot be read."""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc1"
_NONCE_BYTES = 12


class KeyringError(Exception):
    """The keys are missing, malformed, or do not open a value (a message for people)."""


@dataclass
class Keyring:
    """The data keys (id → 32 bytes), which one new values use, and the lookup key."""

    keys: dict[str, bytes]
    current: str
    lookup_key: bytes
    source: Path | None = None
    """The file the keys came from, if any (rotation writes it back)."""
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyringError(f"The current data key {self.current!r} is not in the keyring.")
        for key_id, key in self.keys.items():
            if len(key) != 32 or ":" in key_id:
                raise KeyringError(f"Data key {key_id!r} must be 32 bytes, its id without ':'.")
        if len(self.lookup_key) < 32:
            raise KeyringError("The lookup key must be at least 32 bytes.")

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(self.keys[key_id])
        return cipher

    def encrypt(self, value: str | None, column: str) -> str | None:
        """The stored form of `value` for `column` (e.g. "report_parties.phone")."""
        if value is None:
            return None
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._cipher(self.current).encrypt(nonce, value.encode(), column.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}:{self.current}:{body}"

    def decrypt(self, stored: str | None, column: str) -> str | None:
        """The value of a stored form. Raises KeyringError for an unknown key or a tampered
        value; a value not in the stored form (never encrypted) is refused too, so a
        forgotten conversion shows up instead of leaking."""
        if stored is None:
            return None
        key_id = key_id_of(stored)
        if key_id is None:
            raise KeyringError(f"A value in {column} is not encrypted.")
        if key_id not in self.keys:
            raise KeyringError(
                f"A value in {column} needs data key {key_id!r}, not in the keyring."
            )
        body = stored.split(":", 2)[2]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            plain = self._cipher(key_id).decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], column.encode()
            )
        except Exception as exc:  # cryptography's InvalidTag: tampered or wrong column
            raise KeyringError(f"A value in {column} does not open with key {key_id!r}.") from exc
        return plain.decode()

    def lookup(self, value: str | None, kind: str) -> str | None:
        """The keyed hash of a normalised value of `kind` ("id_number", "phone"): hex
        HMAC-SHA256, equal for equal values across every row and key rotation."""
        if value is None:
            return None
        message = f"{kind}\x00{normalise(value, kind)}".encode()
        # The one-shot form (OpenSSL's HMAC in one call): the same digest as hmac.new.
        return hmac.digest(self.lookup_key, message, "sha256").hex()

    def to_json(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                "keys": {k: _b64(v) for k, v in self.keys.items()},
                "lookup": _b64(self.lookup_key),
            },
            indent=2,
        )


def normalise(value: str, kind: str) -> str:
    """ID numbers in upper case (the check character X), phones as their digits only."""
    if kind == "phone":
        if value.isdigit():  # the usual phone, already digits only: no per-character pass
            return value
        return "".join(ch for ch in value if ch.isdigit())
    return value.strip().upper()


def key_id_of(stored: str) -> str | None:
    """The key id of a stored form, None for a value that is not one."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    return parts[1]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _parse(text: str, source: Path | None) -> Keyring:
    try:
        data: Any = json.loads(text)
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
        return Keyring(keys, str(data["current"]), base64.b64decode(data["lookup"]), source)
    except KeyringError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        where = source or "FIELDAPP_DATA_KEYS"
        raise KeyringError(
            f"The data keys in {where} are malformed ({exc}); expected "
            '{"current": ID, "keys": {ID: base64 of 32 bytes}, "lookup": base64}.'
        ) from exc


def new_keyring(source: Path | None = None) -> Keyring:
    return Keyring({"k1": AESGCM.generate_key(256)}, "k1", secrets.token_bytes(32), source)


def load(inline: str | None, path: Path) -> Keyring:
    """The keyring from inline JSON, else from `path`, creating that file (mode 0600,
    atomically: several server processes may start at once) when it does not exist."""
    if inline:
        return _parse(inline, None)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = new_keyring(path)
        _write_new(path, fresh.to_json())
    return _parse(path.read_text(), path)


def _write_new(path: Path, content: str) -> None:
    """Write a whole file under a temporary name, then link it into place: either this
    process's file appears complete, or another's already did (and is kept)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".data_keys.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(content)
        with contextlib.suppress(FileExistsError):  # another process's file won
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def add_key(ring: Keyring) -> Keyring:
    """A keyring with one more data key, made current (ids k1, k2, …); written back to its
    file (replaced atomically, mode 0600). The lookup key stays: hashes remain valid."""
    number = 1 + max((int(k[1:]) for k in ring.keys if k[1:].isdigit()), default=0)
    key_id = f"k{number}"
    grown = Keyring({**ring.keys, key_id: AESGCM.generate_key(256)}, key_id, ring.lookup_key)
    grown.source = ring.source
    if ring.source is not None:
        fd, tmp = tempfile.mkstemp(dir=ring.source.parent, prefix=".data_keys.")
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(grown.to_json())
        os.replace(tmp, ring.source)
    return grown


def from_config(config: Any) -> Keyring:
    """The keyring of an app's configuration (DATA_KEYS, DATA_KEYS_FILE)."""
    return load(config.get("DATA_KEYS"), Path(config["DATA_KEYS_FILE"]))


def keyring() -> Keyring:
    """The current app's keyring, loaded once per process and again when its file changes
    (`fieldapp keys rotate` in another process: running servers must read the new key's
    values and write with it at once). Every report with parties asks, so the check is one
    os.stat of a path kept as text (rotation replaces the file: a new inode, a new time)."""
    from flask import current_app

    cached: tuple[Keyring, str | None, tuple[int, int]] | None = current_app.extensions.get(
        "fieldapp.keyring"
    )
    if cached is not None:
        ring, path, stamp = cached
        if path is None or _stamp(path) == stamp:
            return ring
    ring = from_config(current_app.config)
    path = str(ring.source) if ring.source else None
    current_app.extensions["fieldapp.keyring"] = (ring, path, _stamp(path) if path else (0, 0))
    return ring


def _stamp(path: str) -> tuple[int, int]:
    try:
        found = os.stat(path)
    except OSError:
        return (-1, -1)
    return (found.st_mtime_ns, found.st_ino)


def keyring_outside_app() -> Keyring:
    """The keyring when no app is at hand (a migration run by alembic directly): the same
    environment variables and default file as the app's configuration."""
    try:
        from flask import current_app

        if current_app:
            return keyring()
    except RuntimeError:
        pass
    from fieldapp import config

    instance = Path(
        os.environ.get("FIELDAPP_INSTANCE") or Path(__file__).parent.parent / "instance"
    )
    return from_config(config.from_environment(instance))
