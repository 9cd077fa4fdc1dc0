"""The session file: what resuming a login needs, as JSON written 0600 with an atomic replace."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import attrs
from yarl import URL

from adapters.wechat.client.types import Credentials, Hosts, SyncKey, UserName

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@attrs.frozen
class StoredCookie:
    """One cookie of the jar; ``domain`` is the host it was set for or its Domain attribute."""

    name: str
    value: str = attrs.field(repr=False)
    domain: str
    path: str = "/"
    secure: bool = False
    expires: str = ""

    @classmethod
    def from_morsel(cls, morsel: Morsel[str]) -> StoredCookie:
        """Build from a morsel of an ``aiohttp.CookieJar``."""
        return cls(
            name=morsel.key,
            value=morsel.value,
            domain=str(morsel["domain"] or ""),
            path=str(morsel["path"] or "/"),
            secure=bool(morsel["secure"]),
            expires=str(morsel["expires"] or ""),
        )


@attrs.frozen
class SessionState:
    """Everything needed to resume a web session (PROTOCOL.md §2, §4, §5): hosts, credentials,
    the persisted SyncKey/SyncCheckKey, self, the UOS switch and all cookies.

    ``self_user_name``/``self_nick_name`` describe self; ``uos`` records the login mode.
    """

    hosts: Hosts
    credentials: Credentials
    self_user_name: UserName
    sync_key: SyncKey
    sync_check_key: SyncKey
    cookies: tuple[StoredCookie, ...] = attrs.field(repr=False)
    self_nick_name: str = ""
    uos: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to the session file."""
        return {
            "version": FORMAT_VERSION,
            "hosts": attrs.asdict(self.hosts),
            "credentials": attrs.asdict(self.credentials),
            "self": {"UserName": self.self_user_name, "NickName": self.self_nick_name},
            "sync_key": self.sync_key.to_wire(),
            "sync_check_key": self.sync_check_key.to_wire(),
            "cookies": [attrs.asdict(c) for c in self.cookies],
            "uos": self.uos,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SessionState:
        """Inverse of ``to_json``. Raises ``ValueError`` for another format version and
        ``KeyError``/``TypeError`` for a malformed object."""
        if obj.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown session file version {obj.get('version')!r}")
        me = obj["self"]
        return cls(
            hosts=Hosts(**obj["hosts"]),
            credentials=Credentials(**obj["credentials"]),
            self_user_name=UserName(str(me["UserName"])),
            self_nick_name=str(me.get("NickName", "")),
            sync_key=SyncKey.from_wire(obj["sync_key"]),
            sync_check_key=SyncKey.from_wire(obj["sync_check_key"]),
            cookies=tuple(StoredCookie(**c) for c in obj["cookies"]),
            uos=bool(obj.get("uos", False)),
        )


def jar_cookies(jar: aiohttp.CookieJar) -> tuple[StoredCookie, ...]:
    """Every cookie in ``jar``."""
    return tuple(StoredCookie.from_morsel(m) for m in jar)


def restore_cookies(jar: aiohttp.CookieJar, cookies: Iterable[StoredCookie]) -> None:
    """Put stored cookies back into ``jar`` (each as a domain cookie of its ``domain``)."""
    for cookie in cookies:
        host = cookie.domain.lstrip(".")
        if not host:
            continue
        jar_entry: SimpleCookie = SimpleCookie()
        jar_entry[cookie.name] = cookie.value
        morsel = jar_entry[cookie.name]
        morsel["domain"] = cookie.domain
        morsel["path"] = cookie.path
        if cookie.secure:
            morsel["secure"] = True
        if cookie.expires:
            morsel["expires"] = cookie.expires
        scheme = "https" if cookie.secure else "http"
        jar.update_cookies(jar_entry, URL.build(scheme=scheme, host=host, path="/"))


def save_session(path: Path, state: SessionState) -> None:
    """Write ``state`` to ``path``: a new temporary file created 0600 in the same directory,
    fsynced, then atomically renamed over ``path``. Raises ``OSError``."""
    data = json.dumps(state.to_json(), ensure_ascii=False, indent=1).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        # The umask can only remove bits; fchmod makes 0600 exact whatever it is.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    log.debug("session saved")


def load_session(path: Path) -> SessionState | None:
    """Read the session file; None if it is missing or unusable (the reason is logged)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the session file: %s", type(exc).__name__)
        return None
    try:
        return SessionState.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring a malformed session file (%s)", type(exc).__name__)
        return None


def delete_session(path: Path) -> None:
    """Remove the session file if it exists."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
