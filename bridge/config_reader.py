"""Reading the YAML config file and validating it key by key (``read_yaml``, ``Section``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bridge.errors import ConfigError
from bridge.localpart import LOCALPART_CHARS

# The config's warnings keep the logger name they had before this module was split out.
logger = logging.getLogger("bridge.config")

#: Token values meaning "generate me" (``-g`` writes generated tokens back into the file).
TOKEN_PLACEHOLDERS = frozenset({"", "generate"})

#: Matrix spec "Server Name": a host name, IPv4 or bracketed IPv6 address, optional port.
SERVER_NAME = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def read_yaml(path: Path) -> Any:
    """Parse the YAML file at ``path`` with ``safe_load``. Raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None


def as_mapping(value: object, key: str) -> Mapping[str, Any]:
    """``value`` itself when it is a mapping; else ``ConfigError`` naming the dotted ``key``."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping of keys to values")
    return value


class Section:
    """One mapping of the config file, read key by key with validation; public so an
    adapter parses its own section with it (``bridge.plugins.Network.configure``).

    ``path`` is the section's dotted name; every ``ConfigError`` starts with the dotted key
    (``wechat.uos: expected true or false``). Keys never read are warned about by
    ``warn_unknown``.
    """

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self._data = data
        self._path = path
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        """The dotted name of key ``name`` of this section."""
        return f"{self._path}.{name}" if self._path else name

    def get(self, name: str) -> Any:
        """The raw value of ``name`` (None when absent), marked read."""
        self._read.add(name)
        return self._data.get(name)

    def section(self, name: str, *, optional: bool = False) -> Section:
        """The sub-section ``name`` ({} when absent and ``optional``)."""
        value = self.get(name)
        if value is None:
            if not optional:
                raise ConfigError(f"{self.key(name)}: missing section")
            value = {}
        return Section(as_mapping(value, self.key(name)), self.key(name))

    def string(self, name: str, *, default: str | None = None) -> str:
        """A scalar as text; ``default`` None makes it required."""
        value = self.get(name)
        if value is None:
            if default is None:
                raise ConfigError(f"{self.key(name)}: missing")
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{self.key(name)}: expected a string")
        return str(value)

    def url(self, name: str, *, default: str | None = None) -> str:
        """An http(s) URL without a trailing slash (``default`` may be \"\")."""
        value = self.string(name, default=default).rstrip("/")
        if not value and default is not None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{self.key(name)}: expected an http(s) URL, got {value!r}")
        return value

    def server_name(self, name: str) -> str:
        """A Matrix server name (spec \"Server Name\")."""
        value = self.string(name)
        if not SERVER_NAME.fullmatch(value):
            raise ConfigError(
                f"{self.key(name)}: expected a server name like example.com, got {value!r}"
            )
        return value

    def port(self, name: str, *, default: int) -> int:
        """A TCP port number 1-65535."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigError(f"{self.key(name)}: expected a port number 1-65535, got {value!r}")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        """``true`` or ``false`` (YAML booleans only)."""
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self.key(name)}: expected true or false, got {value!r}")
        return value

    def localpart(self, name: str, *, default: str | None = None) -> str:
        """A Matrix user localpart (spec \"User Identifiers\")."""
        value = self.string(name, default=default)
        if not LOCALPART_CHARS.fullmatch(value):
            raise ConfigError(
                f"{self.key(name)}: {value!r} is not a valid user localpart "
                "(lowercase a-z, 0-9 and . _ = - / + only)"
            )
        return value

    def token(self, name: str, *, allow_placeholder: bool) -> str:
        """A secret token; a placeholder (``generate``) only if allowed."""
        value = self.string(name, default="")
        if value in TOKEN_PLACEHOLDERS and not allow_placeholder:
            raise ConfigError(
                f"{self.key(name)}: not generated yet; generate the registration first "
                "(python -m bridge -c CONFIG -g -r registration.yaml)"
            )
        return value

    def warn_unknown(self) -> None:
        """Log a warning for every key of this section that was never read."""
        for name in self._data:
            if name not in self._read:
                logger.warning("config: unknown key %s ignored", self.key(str(name)))
