"""The login QR code: its content URL, rendered as PNG bytes and as terminal text (§2.2)."""

from __future__ import annotations

import io

import attrs
import qrcode
import qrcode.constants

from adapters.wechat.client.calls import QR_CONTENT_BASE
from adapters.wechat.client.types import Uuid


@attrs.frozen
class QRCode:
    """The QR code of one login attempt; ``content`` is ``https://login.weixin.qq.com/l/<uuid>``
    (PROTOCOL.md §2.2), which the phone app scans."""

    uuid: Uuid

    @property
    def content(self) -> str:
        """The URL encoded in the QR code."""
        return QR_CONTENT_BASE + self.uuid

    def _matrix(self, border: int) -> list[list[bool]]:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
        code.add_data(self.content)
        code.make(fit=True)
        matrix: list[list[bool]] = code.get_matrix()
        return matrix

    def png(self, *, box_size: int = 8, border: int = 4) -> bytes:
        """The QR code as PNG bytes; ``box_size`` pixels per module, ``border`` modules."""
        code = qrcode.QRCode(
            error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
        )
        code.add_data(self.content)
        code.make(fit=True)
        out = io.BytesIO()
        code.make_image().save(out, format="PNG")
        return out.getvalue()

    def terminal(self, *, border: int = 2) -> str:
        """The QR code as lines of half-block characters, two module rows per line, joined with
        ``\\n``. Light modules are the filled blocks, so it scans on a dark terminal."""
        rows = self._matrix(border)
        if len(rows) % 2:
            rows.append([False] * len(rows[0]))
        glyphs = {(False, False): "█", (True, False): "▄", (False, True): "▀", (True, True): " "}
        lines = [
            "".join(glyphs[(top, bottom)] for top, bottom in zip(upper, lower, strict=True))
            for upper, lower in zip(rows[::2], rows[1::2], strict=True)
        ]
        return "\n".join(lines)
