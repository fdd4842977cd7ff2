"""Small secrets sealed under a purpose key derived from the master key.

Used for secrets the hub itself must read back (TOTP seeds). Case content uses the
per-agency key hierarchy instead. Each purpose gets its own key (HKDF), and the associated
data binds a ciphertext to the row it belongs to, so it cannot be copied to another.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"
_NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value could not be opened: wrong key, wrong row, or altered bytes."""


def purpose_key(master_key: bytes, purpose: str) -> bytes:
    if len(master_key) != 32:
        raise ValueError("the master key must be 32 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(master_key)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
        raise SealError("not a sealed value")
    nonce = sealed[1 : 1 + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[1 + _NONCE_BYTES :], associated_data)
    except InvalidTag as err:
        raise SealError("sealed value failed authentication") from err
