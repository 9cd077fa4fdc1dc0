"""Pure builders of the send, revoke, upload and download requests (PROTOCOL.md §7–§9)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import attrs

from adapters.wechat.client.calls import CGI, LANG, Call, Role
from adapters.wechat.client.types import Credentials, MsgId, UserName

#: webwxuploadmedia chunk size in bytes (WebUploader, §7).
CHUNK_SIZE = 524288
#: Appid the official client puts into file appmsg XML (UOS sends an empty one) (§7).
FILE_APPID = "wxeb7ec651dd0aefa9"


class UploadMediaType(enum.Enum):
    """The ``mediatype`` form field of webwxuploadmedia (§7); GIF emoticons go up as ``doc``."""

    PIC = "pic"
    VIDEO = "video"
    DOC = "doc"


class ImageSize(enum.Enum):
    """``type`` of webwxgetmsgimg (§9): full image, thumbnail (``slave``), emoticon (``big``)."""

    FULL = ""
    THUMB = "slave"
    BIG = "big"


def _cgi(endpoint: str, role: Role = Role.API, method: str = "GET", **kwargs: Any) -> Call:
    return Call(endpoint=endpoint, role=role, path=CGI + endpoint, method=method, **kwargs)


def _send(
    endpoint: str,
    creds: Credentials,
    msg: Mapping[str, Any],
    query: tuple[tuple[str, str], ...],
) -> Call:
    body = {"BaseRequest": creds.base_request(), "Msg": dict(msg), "Scene": 0}
    params = (*query, ("lang", LANG), ("pass_ticket", creds.pass_ticket))
    return _cgi(endpoint, method="POST", params=params, json=body)


def _msg(
    msg_type: int, from_user: UserName, to_user: UserName, local_id: str, **extra: Any
) -> dict[str, Any]:
    return {
        "Type": msg_type,
        **extra,
        "FromUserName": from_user,
        "ToUserName": to_user,
        "LocalID": local_id,
        "ClientMsgId": local_id,
    }


def sendmsg(
    creds: Credentials, from_user: UserName, to_user: UserName, text: str, local_id: str
) -> Call:
    """webwxsendmsg: a text message (Type 1, plain text with real newlines) (§7)."""
    return _send("webwxsendmsg", creds, _msg(1, from_user, to_user, local_id, Content=text), ())


def sendmsgimg(
    creds: Credentials, from_user: UserName, to_user: UserName, media_id: str, local_id: str
) -> Call:
    """webwxsendmsgimg: an uploaded image (Type 3) (§7)."""
    msg = _msg(3, from_user, to_user, local_id, MediaId=media_id, Content="")
    return _send("webwxsendmsgimg", creds, msg, (("fun", "async"), ("f", "json")))


def sendvideomsg(
    creds: Credentials, from_user: UserName, to_user: UserName, media_id: str, local_id: str
) -> Call:
    """webwxsendvideomsg: an uploaded video (Type 43) (§7)."""
    msg = _msg(43, from_user, to_user, local_id, MediaId=media_id, Content="")
    return _send("webwxsendvideomsg", creds, msg, (("fun", "async"), ("f", "json")))


def sendemoticon(
    creds: Credentials, from_user: UserName, to_user: UserName, media_id: str, local_id: str
) -> Call:
    """webwxsendemoticon: an uploaded GIF (Type 47, EmojiFlag 2) (§7)."""
    msg = _msg(47, from_user, to_user, local_id, EmojiFlag=2, MediaId=media_id)
    return _send("webwxsendemoticon", creds, msg, (("fun", "sys"),))


def file_appmsg(name: str, size: int, media_id: str, *, uos: bool) -> str:
    """The appmsg XML Content of a file message (AppMsgType 6) (§7)."""
    ext = name.rsplit(".", 1)[1] if "." in name else ""
    appid = "" if uos else FILE_APPID
    return (
        f"<appmsg appid='{appid}' sdkver=''><title>{escape(name)}</title><des></des>"
        "<action></action><type>6</type><content></content><url></url><lowurl></lowurl>"
        f"<appattach><totallen>{size}</totallen><attachid>{escape(media_id)}</attachid>"
        f"<fileext>{escape(ext)}</fileext></appattach><extinfo></extinfo></appmsg>"
    )


def sendappmsg(
    creds: Credentials,
    from_user: UserName,
    to_user: UserName,
    content: str,
    local_id: str,
    *,
    uos: bool,
) -> Call:
    """webwxsendappmsg: a file as appmsg XML (Type 6); UOS adds ``mod=desktop`` (§7)."""
    query = (("fun", "async"), ("f", "json")) + ((("mod", "desktop"),) if uos else ())
    msg = _msg(6, from_user, to_user, local_id, Content=content)
    return _send("webwxsendappmsg", creds, msg, query)


def revokemsg(creds: Credentials, svr_msg_id: MsgId, to_user: UserName, client_msg_id: str) -> Call:
    """webwxrevokemsg: recall own message ``svr_msg_id`` sent to ``to_user`` (§8)."""
    body = {
        "BaseRequest": creds.base_request(),
        "SvrMsgId": svr_msg_id,
        "ToUserName": to_user,
        "ClientMsgId": client_msg_id,
    }
    params = (("lang", LANG), ("pass_ticket", creds.pass_ticket))
    return _cgi("webwxrevokemsg", method="POST", params=params, json=body)


def js_date(when: datetime) -> str:
    """A ``Date.toString()``-like text (``Sat Jun 23 2018 08:45:07 GMT+0000 (UTC)``) for the
    ``lastModifiedDate`` upload field."""
    utc = when.astimezone(UTC)
    return utc.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


@attrs.frozen
class UploadPlan:
    """What every chunk of one upload shares (§7). ``request`` is the uploadmediarequest JSON
    (StartPos/DataLen do not change per chunk); ``data_ticket`` is the webwx_data_ticket."""

    file_id: str
    name: str
    mime: str
    last_modified: str
    size: int
    media_type: UploadMediaType
    request: Mapping[str, Any] = attrs.field(repr=False, eq=False)
    data_ticket: str = attrs.field(repr=False)

    @property
    def chunks(self) -> int:
        """Number of chunks (at least 1)."""
        return max(1, -(-self.size // CHUNK_SIZE))

    def fields(self, chunk: int) -> list[tuple[str, str]]:
        """The text form fields of ``chunk`` (0-based) in WebUploader's order: id, name, type,
        lastModifiedDate, size, [chunks, chunk only when > 1 chunk], mediatype,
        uploadmediarequest, webwx_data_ticket, pass_ticket (the literal ``undefined``, as the
        official client sends it). The file part (``filename``) follows them."""
        fields = [
            ("id", self.file_id),
            ("name", self.name),
            ("type", self.mime),
            ("lastModifiedDate", self.last_modified),
            ("size", str(self.size)),
        ]
        if self.chunks > 1:
            fields += [("chunks", str(self.chunks)), ("chunk", str(chunk))]
        fields += [
            ("mediatype", self.media_type.value),
            ("uploadmediarequest", json.dumps(self.request, separators=(",", ":"))),
            ("webwx_data_ticket", self.data_ticket),
            ("pass_ticket", "undefined"),
        ]
        return fields

    def chunk_bounds(self, chunk: int) -> tuple[int, int]:
        """``(start, end)`` byte offsets of ``chunk`` in the file."""
        start = chunk * CHUNK_SIZE
        return start, min(self.size, start + CHUNK_SIZE)


def upload_request(
    creds: Credentials,
    *,
    client_media_id: int,
    size: int,
    from_user: UserName,
    to_user: UserName,
    md5: str,
) -> dict[str, Any]:
    """The ``uploadmediarequest`` object (§7): UploadType 2, MediaType 4, whole-file lengths."""
    return {
        "UploadType": 2,
        "BaseRequest": creds.base_request(),
        "ClientMediaId": client_media_id,
        "TotalLen": size,
        "StartPos": 0,
        "DataLen": size,
        "MediaType": 4,
        "FromUserName": from_user,
        "ToUserName": to_user,
        "FileMd5": md5,
    }


def uploadmedia() -> Call:
    """webwxuploadmedia on the file host (``f=json``); the body is the multipart form (§7)."""
    return _cgi("webwxuploadmedia", Role.FILE, method="POST", params=(("f", "json"),))


def getmsgimg(creds: Credentials, msg_id: MsgId, size: ImageSize = ImageSize.FULL) -> Call:
    """webwxgetmsgimg: an image, its thumbnail or an emoticon GIF by MsgId (§9)."""
    params: tuple[tuple[str, str], ...] = (("MsgID", msg_id), ("skey", creds.skey))
    if size is not ImageSize.FULL:
        params += (("type", size.value),)
    return _cgi("webwxgetmsgimg", params=params)


def getvoice(creds: Credentials, msg_id: MsgId) -> Call:
    """webwxgetvoice: a voice message as mp3 (§9)."""
    return _cgi("webwxgetvoice", params=(("msgid", msg_id), ("skey", creds.skey)))


def getvideo(creds: Credentials, msg_id: MsgId) -> Call:
    """webwxgetvideo with ``Range: bytes=0-`` (answered 206, or 200 by some servers) (§9)."""
    params = (("msgid", msg_id), ("skey", creds.skey))
    return _cgi("webwxgetvideo", params=params, headers=(("Range", "bytes=0-"),))


def getmedia(
    creds: Credentials,
    *,
    sender: UserName,
    media_id: str,
    encry_file_name: str,
    data_ticket: str,
) -> Call:
    """webwxgetmedia on the file host: an attachment (AppMsgType 6) (§9)."""
    params = (
        ("sender", sender),
        ("mediaid", media_id),
        ("encryfilename", encry_file_name),
        ("fromuser", creds.uin),
        ("pass_ticket", creds.pass_ticket),
        ("webwx_data_ticket", data_ticket),
    )
    return _cgi("webwxgetmedia", Role.FILE, params=params)


def geticon(
    creds: Credentials, user_name: UserName, *, seq: str = "0", chat_room: str = ""
) -> Call:
    """webwxgeticon: a user's avatar; ``chat_room`` (EncryChatRoomId) for non-friend group
    members (§9). Groups use ``getheadimg``."""
    params: tuple[tuple[str, str], ...] = (
        ("seq", seq),
        ("username", user_name),
        ("skey", creds.skey),
    )
    if chat_room:
        params += (("chatroomid", chat_room),)
    return _cgi("webwxgeticon", params=params)


def getheadimg(creds: Credentials, user_name: UserName, *, seq: str = "0") -> Call:
    """webwxgetheadimg: a group's avatar (§9)."""
    params = (("seq", seq), ("username", user_name), ("skey", creds.skey))
    return _cgi("webwxgetheadimg", params=params)
