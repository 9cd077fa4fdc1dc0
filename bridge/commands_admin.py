"""The bot's admin commands (model: mautrix bridgev2's admin-only commands): ``logins`` lists
every login of the bridge, ``version`` says what runs."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from importlib import metadata
from pathlib import Path

from bridge.commands_chats import Reply
from bridge.config import Config
from bridge.login_manager import LoginManager
from bridge.logins import LoginSession
from bridge.store import Login, LoginState

log = logging.getLogger(__name__)

#: The distribution whose version ``version`` reports (pyproject.toml ``name``).
DISTRIBUTION = "chatbridge"
#: How long ``git rev-parse`` may take, in seconds.
GIT_TIMEOUT_S = 5.0
#: Where the package's source is (a git checkout when run from one).
SOURCE = Path(__file__).resolve().parent.parent


async def logins_command(logins: LoginManager, config: Config) -> Reply:
    """``logins``: every login of this network, oldest first, each as Matrix user, remote
    account name, state and since when (the login record's last change, UTC). Raises
    ``StoreError``."""
    network = logins.network.display_name
    records = [r for r in await logins.store.logins.all() if r.channel == logins.network.name]
    if not records:
        return Reply(f"No {network} logins yet.")
    title = f"{network} logins ({len(records)}):"
    text, markup = [title], [f"<b>{html.escape(title)}</b>"]
    for record in records:
        session = logins.session(record.matrix_user)
        running = session if session is not None and session.id == record.id else None
        account = running.account_name if running is not None else ""
        state = _state(record, running, config.permissions.allows(record.matrix_user))
        since = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.updated_at))
        shown = account or record.account or "(no account)"
        text.append(f"• {record.matrix_user} — {shown} — {state}, since {since} UTC")
        markup.append(
            f"• {html.escape(record.matrix_user)} — <b>{html.escape(shown)}</b> — "
            f"{html.escape(state)}, since {since} UTC"
        )
    return Reply.from_lines(text, markup)


def _state(record: Login, session: LoginSession | None, allowed: bool) -> str:
    """A login's state in words: what its running session shows, else its record's."""
    if session is None:
        if not allowed:
            return "stopped (the user's permission was withdrawn)"
        return {
            LoginState.PENDING: "never logged in",
            LoginState.ACTIVE: "not running",
            LoginState.LOGGED_OUT: "logged out",
        }[record.state]
    if session.account is not None:
        if session.outage.ongoing(time.monotonic()):
            return f"logged in, connection failing ({session.outage.reason})"
        return "logged in"
    if session.logging_in:
        return "logging in"
    return "never logged in" if record.state is LoginState.PENDING else "logged out"


async def version_command() -> Reply:
    """``version``: the installed package's version and, when it runs from a git checkout,
    the commit (``git rev-parse --short HEAD``)."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "unknown (not installed as a package)"
    commit = await _git_commit(SOURCE)
    text = f"{DISTRIBUTION} {version}" + (f", commit {commit}" if commit else "")
    return Reply(text, html.escape(text))


async def _git_commit(folder: Path) -> str | None:
    """The short commit id of the checkout ``folder`` is in, or None (no git, not a
    checkout, or git did not answer within ``GIT_TIMEOUT_S``)."""
    if not await asyncio.to_thread((folder / ".git").exists):
        return None
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(folder),
            "rev-parse",
            "--short",
            "HEAD",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        log.info("version: git not run: %s", exc)
        return None
    try:
        out, _ = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    commit = out.decode(errors="replace").strip()
    return commit if process.returncode == 0 and commit else None
