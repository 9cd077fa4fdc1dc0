"""Generate the appservice registration from the config (Matrix spec "Application Service API")."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bridge.config import TOKEN_PLACEHOLDERS, Config, read_yaml
from bridge.errors import ConfigError

_TOKEN_KEYS = ("as_token", "hs_token")


def registration_for(config: Config) -> dict[str, Any]:
    """The registration mapping the homeserver loads for ``config``.

    Shape (Matrix spec "Registration"): ``id``, ``url``, ``as_token``, ``hs_token``,
    ``sender_localpart``, ``rate_limited: false``, ``receive_ephemeral: true`` (MSC2409, the
    key Synapse 1.163 reads in ``synapse/config/appservice.py``: read receipts and, with the
    experimental feature below, to-device messages reach the bridge), ``org.matrix.msc3202``
    (device lists and one-time key counts in transactions, for end-to-end encryption) and an
    exclusive user namespace covering the ghosts (``Config.ghost_regex``) and the bot. Rooms
    and aliases are not claimed.
    """
    appservice = config.appservice
    return {
        "id": appservice.id,
        "url": appservice.address,
        "as_token": appservice.as_token,
        "hs_token": appservice.hs_token,
        "sender_localpart": appservice.bot.username,
        "rate_limited": False,
        # To-device messages (MSC2409) and device lists and one-time key counts (MSC3202)
        # in transactions: what the bot's end-to-end encryption device lives on (Synapse:
        # experimental_features msc2409_to_device_messages_enabled and
        # msc3202_transaction_extensions).
        "receive_ephemeral": True,
        "org.matrix.msc3202": True,
        "namespaces": {
            "users": [
                {"exclusive": True, "regex": config.ghost_regex},
                {"exclusive": True, "regex": f"^{re.escape(config.bot_user_id)}$"},
            ],
            "aliases": [],
            "rooms": [],
        },
    }


def generate_registration(config_path: str | Path, registration_path: str | Path) -> None:
    """Write the registration YAML for the config at ``config_path`` to ``registration_path``.

    An ``as_token``/``hs_token`` still set to a placeholder (``generate`` or empty) is replaced
    by a random token written back into the config file in place (comments kept), so the
    bridge and the homeserver share it. Both files are written atomically and created mode
    0600 (they hold the tokens). Raises ``ConfigError`` if the config is invalid or cannot be
    updated.
    """
    config_path = Path(config_path)
    raw = read_yaml(config_path)
    appservice = raw.get("appservice") if isinstance(raw, Mapping) else None
    if isinstance(appservice, Mapping):
        missing = [k for k in _TOKEN_KEYS if str(appservice.get(k) or "") in TOKEN_PLACEHOLDERS]
        if missing:
            _write_tokens(config_path, {k: secrets.token_urlsafe(48) for k in missing})
    config = Config.from_file(config_path)
    text = yaml.safe_dump(registration_for(config), sort_keys=False, default_flow_style=False)
    _atomic_write(Path(registration_path), text)


def _write_tokens(config_path: Path, tokens: Mapping[str, str]) -> None:
    """Set ``appservice.<key>`` to each token in the file's text, keeping everything else."""
    original = config_path.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    section = _appservice_block(lines, config_path)
    start, end, indent = section
    for key, token in tokens.items():
        pattern = re.compile(rf"^{re.escape(indent)}{key}\s*:.*$")
        found = [i for i in range(start, end) if pattern.match(lines[i].rstrip("\r\n"))]
        if len(found) > 1:
            raise ConfigError(f"appservice.{key}: set more than once in {config_path}")
        line = f'{indent}{key}: "{token}"\n'
        if found:
            lines[found[0]] = line
        else:
            lines.insert(start, line)
            end += 1
    updated = "".join(lines)
    # Now holding the tokens, the config is replaced by a 0600 file whatever its mode was.
    _atomic_write(config_path, updated)
    check = read_yaml(config_path).get("appservice", {})
    if any(check.get(k) != v for k, v in tokens.items()):
        _atomic_write(config_path, original)
        raise ConfigError(
            f"appservice: could not write the generated tokens into {config_path}; "
            "set as_token and hs_token to random strings yourself"
        )


def _appservice_block(lines: list[str], config_path: Path) -> tuple[int, int, str]:
    """Line range [start, end) of the block-style ``appservice:`` body, and its indentation."""
    header = [i for i, ln in enumerate(lines) if re.match(r"^appservice\s*:\s*(#.*)?$", ln)]
    if len(header) != 1:
        raise ConfigError(
            f"appservice: expected one block-style 'appservice:' section in {config_path} "
            "to write generated tokens into; set as_token and hs_token yourself"
        )
    start = header[0] + 1
    end = start
    indent = ""
    for i in range(start, len(lines)):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not lines[i][0].isspace():
            break
        if not indent:
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        end = i + 1
    return start, end, indent or "    "


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` via a temporary file in the same folder, created 0600
    (``mkstemp`` creates it so; nothing is ever readable by others in between)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
