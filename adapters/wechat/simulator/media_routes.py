"""Media downloads: images, voice, video (Range), files and avatars (PROTOCOL.md §9)."""

from __future__ import annotations

import hashlib
import urllib.parse

from aiohttp import web

from . import blobs
from .httputil import API, authenticate, world_of
from .model import Session, StoredMessage

#: The Last-Modified every capture of a media download shows (sample webwxgetvideo-http.txt).
LAST_MODIFIED = "Thu, 01 Jan 1970 00:00:00 GMT"


def cache_headers(data: bytes) -> dict[str, str]:
    """``Last-Modified`` and ``ETag`` of a media download, shaped as in sample
    webwxgetvideo-http.txt (``ETag: 3313f-4e6206-5ca584da4e6bf21a6bf7``: three unquoted hex
    groups); the ETag is derived from the bytes, so it is stable per file."""
    digest = hashlib.sha1(data).hexdigest()
    return {"Last-Modified": LAST_MODIFIED, "ETag": f"{digest[:5]}-{len(data):x}-{digest[5:25]}"}


def _session(request: web.Request) -> Session | web.Response:
    session = authenticate(request)
    if isinstance(session, Session):
        return session
    # Downloads are plain GETs: without a session there is nothing to serve.
    return web.Response(status=401, text=f"retcode {session}")


def _message(request: web.Request, session: Session) -> StoredMessage | None:
    msg_id = request.query.get("MsgID") or request.query.get("msgid") or ""
    return session.account.messages.get(msg_id)


async def getmsgimg(request: web.Request) -> web.Response:
    """``GET …/webwxgetmsgimg?MsgID=…[&type=slave|big]`` → ``image/jpeg`` (§9), with
    ``Cache-Control: max-age=604800`` and the ``cache_headers``.

    No ``type``: the full image (or an emoticon's GIF); ``slave``: the thumbnail (also a video
    poster); ``big``: the full bytes (emoticon GIF). Unknown MsgId → 404.
    """
    session = _session(request)
    if isinstance(session, web.Response):
        return session
    stored = _message(request, session)
    if stored is None or (stored.media is None and stored.thumb is None):
        return web.Response(status=404)
    if request.query.get("type") == "slave":
        body = stored.thumb or blobs.jpeg("thumb" + stored.msg_id, 512)
    else:
        body = stored.media or stored.thumb or b""
    headers = {"Cache-Control": "max-age=604800", **cache_headers(body)}
    return web.Response(body=body, content_type="image/jpeg", headers=headers)


async def getvoice(request: web.Request) -> web.Response:
    """``GET …/webwxgetvoice?msgid=…`` → ``audio/mpeg`` (§9)."""
    session = _session(request)
    if isinstance(session, web.Response):
        return session
    stored = _message(request, session)
    if stored is None or stored.msg_type != 34 or stored.media is None:
        return web.Response(status=404)
    return web.Response(
        body=stored.media, content_type="audio/mpeg", headers=cache_headers(stored.media)
    )


async def getvideo(request: web.Request) -> web.Response:
    """``GET …/webwxgetvideo?msgid=…``: 206 + Content-Range with a ``Range`` header, 200
    without (§9); ``video/mp4``, ``Accept-Ranges: bytes``; unsatisfiable ranges → 416.
    """
    session = _session(request)
    if isinstance(session, web.Response):
        return session
    stored = _message(request, session)
    if stored is None or stored.msg_type not in (43, 62) or stored.media is None:
        return web.Response(status=404)
    data = stored.media
    headers = {"Accept-Ranges": "bytes", **cache_headers(data)}
    if "Range" not in request.headers:
        return web.Response(body=data, content_type="video/mp4", headers=headers)
    try:
        wanted = request.http_range
    except ValueError:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
    start, stop, _ = wanted.indices(len(data))
    if start >= len(data) or stop <= start:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
    return web.Response(
        status=206, body=data[start:stop], content_type="video/mp4", headers=headers
    )


def _disposition(name: str) -> str:
    quoted = urllib.parse.quote(name, safe="")
    ascii_name = name if name.isascii() and '"' not in name else quoted
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


async def getmedia(request: web.Request) -> web.Response:
    """``GET …/webwxgetmedia?sender=…&mediaid=…&encryfilename|filename=…&fromuser=<uin>
    &pass_ticket=…&webwx_data_ticket=…`` → the file with Content-Disposition (§9).

    ``webwx_data_ticket`` (query or cookie) must be the session's; MediaId of another account
    or unknown → 404.
    """
    world = world_of(request)
    session = _session(request)
    if isinstance(session, web.Response):
        return session
    ticket = request.query.get("webwx_data_ticket") or request.cookies.get("webwx_data_ticket")
    if ticket != session.data_ticket:
        return web.Response(status=401, text="webwx_data_ticket does not match")
    media = world.media.get(request.query.get("mediaid", ""))
    if media is None or media.account_id != session.account.id:
        return web.Response(status=404)
    return web.Response(
        body=media.data,
        content_type="application/octet-stream",
        headers={"Content-Disposition": _disposition(media.filename), **cache_headers(media.data)},
    )


async def geticon(request: web.Request) -> web.Response:
    """``GET …/webwxgeticon?seq=…&username=…`` and ``…/webwxgetheadimg`` → a JPEG (§9):
    stable per account and ``seq``, or the picture a contact's ``avatar`` names (the same
    bytes for every contact naming it); WeChat's default avatar for a stranger asked for
    without a ``chatroomid``. Counted in ``Account.icon_fetches``."""
    session = _session(request)
    if isinstance(session, web.Response):
        return session
    session.account.icon_fetches += 1
    user_name = request.query.get("username", "")
    real_id = session.real_id(user_name) or user_name
    contact = session.account.contacts.get(real_id)
    if contact is not None and not contact.friend and not request.query.get("chatroomid"):
        # A group member who is not a friend is shown through the group only (§9).
        seed = "avatar:picture:default"
    elif contact is not None and contact.avatar:
        seed = f"avatar:picture:{contact.avatar}"
    else:
        seed = f"avatar:{real_id}:{request.query.get('seq', '0')}"
    return web.Response(body=blobs.picture(seed), content_type="image/jpeg")


def add_routes(app: web.Application) -> None:
    """Register the download routes."""
    app.router.add_get(f"{API}/webwxgetmsgimg", getmsgimg)
    app.router.add_get(f"{API}/webwxgetvoice", getvoice)
    app.router.add_get(f"{API}/webwxgetvideo", getvideo)
    app.router.add_get(f"{API}/webwxgetmedia", getmedia)
    app.router.add_get(f"{API}/webwxgeticon", geticon)
    app.router.add_get(f"{API}/webwxgetheadimg", geticon)
