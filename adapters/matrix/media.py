"""Matrix files off the receive path: journaled as a reference, downloaded by the chat's queue.

A portal event's file is not downloaded while its appservice transaction is handled: the
event becomes a ``Media`` whose ``ref`` says where the file is (``FileRef``), and the
relay's queue for that chat calls ``MatrixChannel.fetch_media`` when it delivers it
(``bridge.channel.SupportsMediaFetch``). So a slow or large download holds up its own chat
only, never the transaction or another portal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from adapters.matrix import attachments, render
from adapters.matrix.api import AppserviceAPI
from adapters.matrix.errors import MatrixNotFound, MatrixRequestError, MatrixUnavailable
from adapters.matrix.types import MxcUri, RoomEvent
from bridge.errors import DeliveryFailed
from bridge.model import Media

#: ``Media.mimetype`` when neither the event nor the download says.
UNKNOWN_MIMETYPE = "application/octet-stream"
#: The HTTP status with which a homeserver answers (with a Matrix error body) that it could
#: not get a file from the server the mxc URI names.
REMOTE_MEDIA_FAILED = 502


@attrs.frozen
class FileRef:
    """Where a Matrix file is: its ``url`` (``mxc://server/media_id``), and for an encrypted
    attachment the event's ``file`` object as sent (spec "Sending encrypted attachments":
    ``url``, ``key`` (a JWK), ``iv``, ``hashes``, ``v``), else ``None``.

    Encoded in ``Media.ref`` as the mxc URI itself for a plain file, as the JSON object
    ``{"file": {...}}`` for an encrypted one. The journal thus holds an encrypted file's key
    (as the homeserver's event store does); no credential of the bridge: the download uses
    the appservice's token at fetch time.
    """

    url: MxcUri
    file: Mapping[str, Any] | None = None

    def encode(self) -> str:
        """This reference as ``Media.ref``."""
        if self.file is None:
            return str(self.url)
        return json.dumps({"file": dict(self.file)}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, ref: str) -> FileRef:
        """The reference ``encode`` wrote. Raises ``DeliveryFailed`` (not retryable) for
        anything else."""
        if ref.startswith("mxc://"):
            return cls(MxcUri(ref))
        try:
            value = json.loads(ref) if ref.startswith("{") else None
        except ValueError:
            value = None
        file = value.get("file") if isinstance(value, dict) else None
        url = file.get("url") if isinstance(file, dict) else None
        if not isinstance(url, str) or not url.startswith("mxc://"):
            raise DeliveryFailed("the file's reference is not a Matrix one")
        return cls(MxcUri(url), file)


def reference(event: RoomEvent) -> Media:
    """The ``Media`` to journal for the file of the media event ``event``
    (``render.media_ref``): no bytes, ``ref`` set (``FileRef.encode``; an encrypted
    attachment's ``file`` object when the event has it instead of a ``url``), the event's
    mimetype, name, caption, size in bytes (``info.size``), pixels and duration in
    milliseconds (0 = not said). Raises ``render.UnbridgeableEvent``."""
    ref = render.media_ref(event)
    file = event.content.get("file")
    encrypted = file if isinstance(file, Mapping) and "url" not in event.content else None
    info = event.content.get("info")
    size = info.get("size") if isinstance(info, Mapping) else None
    return Media(
        kind=ref.kind,
        mimetype=ref.mimetype or UNKNOWN_MIMETYPE,
        filename=ref.filename,
        duration_ms=ref.duration_ms,
        width=ref.width,
        height=ref.height,
        caption=ref.caption,
        ref=FileRef(ref.url, encrypted).encode(),
        expected_size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
    )


async def fetch(api: AppserviceAPI, media: Media) -> Media:
    """The file ``media.ref`` names, downloaded now through the authenticated media API
    (spec v1.11 "GET /_matrix/client/v1/media/download") and, for an encrypted attachment,
    decrypted (``decrypt``): ``media`` with ``data`` filled in and ``ref`` cleared; the
    event's mimetype wins over the download's content type.

    Raises ``DeliveryFailed``: ``MatrixUnavailable``/``MatrixRateLimited`` (retryable) while
    the homeserver is unreachable or busy; not retryable when the file is gone, the
    download is refused, an encrypted file does not decrypt, or the homeserver answers that
    it cannot fetch a remote server's file (Synapse: 502 ``M_UNKNOWN`` "Failed to fetch
    remote media"; retrying would hold the chat's later messages back for minutes).
    """
    ref = FileRef.decode(media.ref)
    try:
        download = await api.download(ref.url)
    except MatrixNotFound:
        raise DeliveryFailed("the homeserver no longer has the file") from None
    except MatrixUnavailable as exc:
        if exc.status != REMOTE_MEDIA_FAILED or not exc.errcode:
            raise  # the homeserver itself is unreachable (no Matrix error): retry later
        server = urlsplit(ref.url).netloc
        raise DeliveryFailed(f"the homeserver could not fetch the file from {server}") from exc
    except MatrixRequestError as exc:
        if exc.retryable:
            raise
        raise DeliveryFailed(
            f"the homeserver refused the download ({exc.errcode or exc.status})"
        ) from exc
    mimetype = media.mimetype
    if ref.file is not None:
        data = decrypt(download.data, ref.file)
    else:
        data = download.data
        if mimetype == UNKNOWN_MIMETYPE and download.content_type:
            mimetype = download.content_type
    return attrs.evolve(media, data=data, mimetype=mimetype, ref="")


def decrypt(ciphertext: bytes, file: Mapping[str, Any]) -> bytes:
    """The plaintext of an encrypted attachment (spec "Sending encrypted attachments";
    ``attachments.EncryptedFile`` reads the ``file`` object, ``attachments.decrypt`` checks
    the ciphertext's SHA-256 and decrypts). Raises ``DeliveryFailed`` (not retryable) for a
    malformed ``file`` object or a download that does not match it."""
    try:
        return attachments.decrypt(ciphertext, attachments.EncryptedFile.from_content(file))
    except attachments.AttachmentError as exc:
        raise DeliveryFailed(f"the encrypted file could not be decrypted ({exc})") from None
