"""Random identifiers in the shapes the WeChat web servers issue (PROTOCOL.md §2, §6, §7, §11)."""

from __future__ import annotations

import base64
import secrets
import string
import urllib.parse

_ALNUM = string.ascii_letters + string.digits
#: Accounts whose UserName is their real id in every session (PROTOCOL.md §3.5).
SPECIAL_ACCOUNTS = frozenset({"filehelper", "fmessage", "weixin", "newsapp", "officialaccounts"})


def _hex(n: int) -> str:
    return secrets.token_hex(n // 2)


def qr_uuid() -> str:
    """A QR login uuid: 10 URL-safe base64-ish characters + ``==`` (§2.1).

    ``/`` and ``+`` are avoided because itchat cuts the redirect_uri at its last ``/``.
    """
    return "".join(secrets.choice(_ALNUM) for _ in range(10)) + "=="


def person_user_name() -> str:
    """A session UserName for a person: ``@`` + 32 or 64 lowercase hex (§11)."""
    return "@" + _hex(secrets.choice((32, 64)))


def self_user_name() -> str:
    """The logged-in account's own UserName: ``@`` + 32 lowercase hex, as in the captures."""
    return "@" + _hex(32)


def group_user_name() -> str:
    """A session UserName for a group: ``@@`` + 64 lowercase hex (§11)."""
    return "@@" + _hex(64)


def encry_chat_room_id() -> str:
    """A group's session-scoped ``EncryChatRoomId``: ``@`` + 32 hex (§3.4)."""
    return "@" + _hex(32)


def msg_id() -> str:
    """A 19-digit server MsgId that fits a signed 64-bit integer (§6.1)."""
    return str(secrets.randbelow(9_000_000_000_000_000_000 - 10**18) + 10**18)


def old_msg_id() -> str:
    """The legacy 10-digit ``<oldmsgid>`` of a recall (§6.5)."""
    return str(secrets.randbelow(2_000_000_000 - 10**9) + 10**9)


def uin() -> int:
    """An account uin: 9-10 decimal digits (§2.4)."""
    return secrets.randbelow(4_000_000_000 - 100_000_000) + 100_000_000


def wxid() -> str:
    """A real account id ``wxid_`` + 14 lowercase alphanumerics (§11)."""
    return "wxid_" + "".join(
        secrets.choice(string.ascii_lowercase + string.digits) for _ in range(14)
    )


def chatroom_id() -> str:
    """A real group id ``<10 digits>@chatroom`` (§11)."""
    return f"{secrets.randbelow(9_000_000_000) + 1_000_000_000}@chatroom"


def skey() -> str:
    """``@crypt_<8 hex>_<32 hex>`` (§2.4)."""
    return f"@crypt_{_hex(8)}_{_hex(32)}"


def wxsid() -> str:
    """16 base64-ish characters (§2.4)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(16))


def pass_ticket() -> str:
    """The raw (unencoded) pass_ticket: 64 base64 characters, usually with ``+``/``/``/``=``.

    The newloginpage XML carries it percent-encoded (§2.4); see :func:`encoded_ticket`.
    """
    while True:
        raw = base64.b64encode(secrets.token_bytes(47)).decode()
        if "+" in raw or "/" in raw:
            return raw


def encoded_ticket(raw: str) -> str:
    """Percent-encode a pass_ticket the way the XML carries it (``%2B``, ``%2F``, ``%3D``)."""
    return urllib.parse.quote(raw, safe="")


def data_ticket() -> str:
    """A ``webwx_data_ticket`` cookie value (24 characters)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(24))


def auth_ticket() -> str:
    """A long-lived ``webwx_auth_ticket`` cookie value (base64)."""
    return base64.b64encode(secrets.token_bytes(96)).decode()


def uvid() -> str:
    """A ``webwxuvid`` cookie value (96 hex)."""
    return _hex(96)


def login_ticket() -> str:
    """The ``ticket`` of a login redirect_uri: ``<24 chars>@qrticket_0`` (§2.3)."""
    return "".join(secrets.choice(_ALNUM + "_") for _ in range(24)) + "@qrticket_0"


def media_id() -> str:
    """An upload MediaId: ``@crypt_<8 hex>_<long hex>`` (§7)."""
    return f"@crypt_{_hex(8)}_{_hex(256)}"


def temp_user_name() -> str:
    """A temporary UserName of a stranger in a card or friend request (§6.3)."""
    return "@" + _hex(64)


def stranger_ticket() -> str:
    """A ``v2_...@stranger`` verify ticket (§6.3, MsgType 37)."""
    return f"v2_{_hex(128)}@stranger"


def encry_file_name(name: str) -> str:
    """``EncryFileName``: the URL-encoded name with ``.`` → ``%2E`` and ``_`` → ``%5F`` (§6.1)."""
    return urllib.parse.quote(name, safe="").replace(".", "%2E").replace("_", "%5F")
