"""Encrypted attachments (Matrix spec "Sending encrypted attachments"): the ``file`` object of a
media event, its download decrypted, and a file encrypted for upload.

Clients send files in this form in encrypted rooms, and some (matrix-commander) in every room:
the homeserver holds AES-CTR-256 ciphertext; the event's ``file`` carries the key (a JWK), the
IV and the ciphertext's SHA-256. Decryption is matrix-nio's ``decrypt_attachment``, which
checks that hash first; encryption is its ``encrypt_attachment``. Pure functions: the caller
downloads ``file.url`` or uploads the ciphertext, wherever it does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import attrs
from nio.crypto.attachments import decrypt_attachment, encrypt_attachment
from nio.exceptions import EncryptionError

from adapters.matrix.types import MxcUri


class AttachmentError(ValueError):
    """An encrypted attachment that cannot be used: a malformed ``file`` object, a download
    whose SHA-256 does not match, or a key that does not decrypt."""


@attrs.frozen
class EncryptedFile:
    """An ``EncryptedFile`` (spec "Sending encrypted attachments"): the ``url`` of the
    ciphertext, the AES-256 key ``key`` (the JWK's ``k``, unpadded URL-safe base64), the
    16-byte ``iv`` and the ciphertext's ``sha256`` (both unpadded base64)."""

    url: MxcUri
    key: str
    iv: str
    sha256: str

    @classmethod
    def from_content(cls, file: Mapping[str, Any]) -> EncryptedFile:
        """Read an event's ``file`` object. Raises ``AttachmentError`` when it is not a
        version-2 ``A256CTR`` file with an ``mxc://`` URL, a 256-bit key, a 16-byte IV and a
        SHA-256 hash."""
        url = file.get("url")
        if not isinstance(url, str) or not url.startswith("mxc://"):
            raise AttachmentError("encrypted file without an mxc:// url")
        if file.get("v") not in ("v2", None):
            raise AttachmentError(f"encrypted file version {file.get('v')!r}")
        jwk = file.get("key")
        hashes = file.get("hashes")
        iv = file.get("iv")
        if not isinstance(jwk, Mapping) or not isinstance(hashes, Mapping):
            raise AttachmentError("encrypted file without key or hashes")
        key, sha256 = jwk.get("k"), hashes.get("sha256")
        if jwk.get("kty") != "oct" or jwk.get("alg") != "A256CTR" or not isinstance(key, str):
            raise AttachmentError("encrypted file key is not an A256CTR JWK")
        if not isinstance(iv, str) or not isinstance(sha256, str):
            raise AttachmentError("encrypted file without iv or sha256")
        if len(_unpadded(key)) != 32 or len(_unpadded(iv)) != 16 or len(_unpadded(sha256)) != 32:
            raise AttachmentError("encrypted file key, iv or sha256 of the wrong length")
        return cls(MxcUri(url), key, iv, sha256)


def _unpadded(value: str) -> bytes:
    """Bytes of unpadded standard or URL-safe base64; raises ``AttachmentError``."""
    try:
        return base64.urlsafe_b64decode(
            value.replace("+", "-").replace("/", "_") + "=" * (-len(value) % 4)
        )
    except (binascii.Error, ValueError):
        raise AttachmentError("encrypted file field is not base64") from None


def decrypt(ciphertext: bytes, file: EncryptedFile) -> bytes:
    """The plaintext of ``ciphertext`` (the bytes downloaded from ``file.url``). Raises
    ``AttachmentError`` when its SHA-256 is not ``file.sha256`` (nothing is decrypted then)."""
    try:
        plaintext: bytes = decrypt_attachment(ciphertext, file.key, file.sha256, file.iv)
    except EncryptionError as exc:
        raise AttachmentError(f"encrypted file not decrypted: {exc}") from None
    return plaintext


def encrypt(plaintext: bytes) -> tuple[bytes, dict[str, Any]]:
    """``(ciphertext, file)``: ``plaintext`` encrypted with a fresh AES-CTR-256 key and IV
    (matrix-nio's ``encrypt_attachment``), and the event's ``file`` object for it (``v2``,
    the key as an ``A256CTR`` JWK, ``iv``, ``hashes.sha256`` of the ciphertext), without its
    ``url`` until the ciphertext is uploaded (``with_url``)."""
    ciphertext, keys = encrypt_attachment(plaintext)
    return ciphertext, dict(keys)


def with_url(file: Mapping[str, Any], url: MxcUri) -> dict[str, Any]:
    """The ``file`` object of ``encrypt`` pointing at the uploaded ciphertext ``url``."""
    return {**file, "url": url}
