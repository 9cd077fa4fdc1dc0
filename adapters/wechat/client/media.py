"""Sending (text, image, video, file, emoticon), upload, revoke and downloads (§7–§9)."""

from __future__ import annotations

import functools
import hashlib
import logging
import mimetypes
from datetime import UTC, datetime
from typing import Any

import aiohttp

from adapters.wechat.client import calls, calls_msg
from adapters.wechat.client.calls import Call
from adapters.wechat.client.calls_msg import UploadMediaType, UploadPlan
from adapters.wechat.client.connection import Connection
from adapters.wechat.client.errors import ProtocolError
from adapters.wechat.client.results import Download, RevokeResult, SendResult, UploadResult
from adapters.wechat.client.types import ClientMsgId, MsgId, UserName
from adapters.wechat.client.wire import check_base_response

log = logging.getLogger(__name__)


def guess_mime(name: str) -> str:
    """The MIME type of a file name, ``application/octet-stream`` if unknown."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _form(plan: UploadPlan, chunk: int, data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData(quote_fields=False, charset="utf-8")
    for name, value in plan.fields(chunk):
        form.add_field(name, value)
    start, end = plan.chunk_bounds(chunk)
    form.add_field(
        "filename", data[start:end], filename=plan.name, content_type="application/octet-stream"
    )
    return form


async def upload(
    conn: Connection,
    data: bytes,
    *,
    name: str,
    to_user: UserName,
    media_type: UploadMediaType,
    mime: str | None = None,
) -> UploadResult:
    """webwxuploadmedia (§7): upload ``data`` in 524288-byte chunks (``chunks``/``chunk`` only
    when there is more than one); returns the final answer with the MediaId.

    Raises ``ApiError``, ``ProtocolError`` (no MediaId), ``NetworkError``.
    """
    creds = conn.creds()
    request = calls_msg.upload_request(
        creds,
        client_media_id=conn.next_counter(),
        size=len(data),
        from_user=conn.me(),
        to_user=to_user,
        md5=hashlib.md5(data).hexdigest(),
    )
    plan = UploadPlan(
        file_id=f"WU_FILE_{conn.next_upload_number()}",
        name=name,
        mime=mime or guess_mime(name),
        last_modified=calls_msg.js_date(datetime.now(UTC)),
        size=len(data),
        media_type=media_type,
        request=request,
        data_ticket=conn.http.cookie("webwx_data_ticket"),
    )
    call = calls_msg.uploadmedia()
    obj: dict[str, Any] = {}
    for chunk in range(plan.chunks):
        reply = await conn.http.send(
            call,
            conn.hosts,
            time_limit=conn.config.transfer_timeout,
            multipart=functools.partial(_form, plan, chunk, data),
        )
        obj = reply.json()
        check_base_response(call.endpoint, obj)
    result = UploadResult.from_wire(obj)
    if not result.media_id:
        raise ProtocolError("webwxuploadmedia: the last chunk's answer has no MediaId")
    log.info("webwxuploadmedia ok: %d bytes in %d chunks", len(data), plan.chunks)
    return result


async def _send(conn: Connection, call: Call, local_id: str) -> SendResult:
    # Never retried: a retry after a lost answer would send the message twice.
    obj = await conn.call_json(call, retry=False)
    result = SendResult.from_wire(obj, ClientMsgId(local_id))
    log.info("%s ok", call.endpoint)
    return result


async def send_text(conn: Connection, to_user: UserName, text: str) -> SendResult:
    """webwxsendmsg (§7). Raises ``ApiError`` (``NotAFriend`` 1204, ``TooFrequent`` 1205)."""
    local_id = calls.new_client_msg_id()
    call = calls_msg.sendmsg(conn.creds(), conn.me(), to_user, text, local_id)
    return await _send(conn, call, local_id)


async def send_image(
    conn: Connection, to_user: UserName, data: bytes, name: str, mime: str | None = None
) -> SendResult:
    """Upload (``pic``) then webwxsendmsgimg (§7)."""
    up = await upload(
        conn, data, name=name, to_user=to_user, media_type=UploadMediaType.PIC, mime=mime
    )
    local_id = calls.new_client_msg_id()
    call = calls_msg.sendmsgimg(conn.creds(), conn.me(), to_user, up.media_id, local_id)
    return await _send(conn, call, local_id)


async def send_video(
    conn: Connection, to_user: UserName, data: bytes, name: str, mime: str | None = None
) -> SendResult:
    """Upload (``video``) then webwxsendvideomsg (§7)."""
    up = await upload(
        conn, data, name=name, to_user=to_user, media_type=UploadMediaType.VIDEO, mime=mime
    )
    local_id = calls.new_client_msg_id()
    call = calls_msg.sendvideomsg(conn.creds(), conn.me(), to_user, up.media_id, local_id)
    return await _send(conn, call, local_id)


async def send_file(
    conn: Connection, to_user: UserName, data: bytes, name: str, mime: str | None = None
) -> SendResult:
    """Upload (``doc``) then webwxsendappmsg with the file appmsg XML (§7)."""
    up = await upload(
        conn, data, name=name, to_user=to_user, media_type=UploadMediaType.DOC, mime=mime
    )
    content = calls_msg.file_appmsg(name, len(data), up.media_id, uos=conn.config.uos)
    local_id = calls.new_client_msg_id()
    call = calls_msg.sendappmsg(
        conn.creds(), conn.me(), to_user, content, local_id, uos=conn.config.uos
    )
    return await _send(conn, call, local_id)


async def send_emoticon(
    conn: Connection, to_user: UserName, data: bytes, name: str = "emoticon.gif"
) -> SendResult:
    """Upload a GIF (as ``doc``, like the official client) then webwxsendemoticon (§7)."""
    up = await upload(
        conn, data, name=name, to_user=to_user, media_type=UploadMediaType.DOC, mime="image/gif"
    )
    local_id = calls.new_client_msg_id()
    call = calls_msg.sendemoticon(conn.creds(), conn.me(), to_user, up.media_id, local_id)
    return await _send(conn, call, local_id)


async def revoke(
    conn: Connection, to_user: UserName, msg_id: MsgId, client_msg_id: str
) -> RevokeResult:
    """webwxrevokemsg (§8): recall own message ``msg_id`` (MsgID of the send) within 2 min.

    Raises ``ApiError`` when the server refuses (e.g. too late).
    """
    call = calls_msg.revokemsg(conn.creds(), msg_id, to_user, client_msg_id)
    return RevokeResult.from_wire(await conn.call_json(call, retry=False))


async def download(conn: Connection, call: Call) -> Download:
    """GET a media body (§9); accepts 200 and 206 (video with ``Range: bytes=0-``).

    Raises ``HttpStatusError`` (e.g. 404 for an unknown MsgId), ``NetworkError``,
    ``AnswerTooLarge`` past ``ClientConfig.max_download_bytes``.
    """
    reply = await conn.http.send(
        call,
        conn.hosts,
        time_limit=conn.config.transfer_timeout,
        ok_status=frozenset({200, 206}),
        max_bytes=conn.config.max_download_bytes,
    )
    content_type = reply.content_type.split(";", 1)[0].strip()
    log.debug("%s: %d bytes", call.endpoint, len(reply.body))
    return Download(reply.body, content_type, reply.file_name(), reply.status)
