"""matrix-commander (PyPI, a command-line Matrix client built on matrix-nio with end-to-end
encryption) driven in a subprocess: a Matrix client nobody here wrote, talking to the session
Synapse and the bridge as a user's client would.

Facts it follows (measured here against matrix-commander 8): it logs in with a password into a
credentials file and a store folder of its own; it refuses room-version-12 room ids as the
default room, so rooms are named by an alias; it sends images and files in the
encrypted-attachment form (``file`` with key/iv/hashes) even into unencrypted rooms.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

from adapters.matrix.localsynapse import MatrixUser, Synapse

#: How long one matrix-commander run may take (it starts nio, syncs once, sends).
RUN_TIMEOUT_S = 90.0


def commander_path() -> str:
    """The ``matrix-commander`` executable of this environment (the ``test`` extra installs
    it). Raises ``FileNotFoundError`` naming the fix when it is missing: a test using it
    fails rather than skipping."""
    beside = Path(sys.executable).with_name("matrix-commander")
    found = str(beside) if beside.exists() else shutil.which("matrix-commander")
    if found is None:
        raise FileNotFoundError(
            "matrix-commander is not installed: run scripts/bootstrap.sh (the test extra)"
        )
    return found


class Commander:
    """One Matrix user as matrix-commander: ``login()`` first, then ``send``/``send_image``/
    ``send_file`` to a room given by id (an alias is made for it). ``api`` is the same user
    over the plain client-server API, for what the test checks afterwards."""

    def __init__(self, folder: Path, synapse: Synapse, api: MatrixUser, password: str) -> None:
        self.folder = folder
        self.synapse = synapse
        self.api = api
        self._password = password
        self._credentials = folder / "credentials.json"
        self._store = folder / "store"
        self._aliases: dict[str, str] = {}

    @classmethod
    async def register(cls, synapse: Synapse, folder: Path, localpart: str) -> Commander:
        """A new Synapse user ``localpart`` (with a random password) logged in with
        matrix-commander, its files in ``folder``."""
        password = secrets.token_hex(12)
        api = await synapse.register_user(localpart, password)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        commander = cls(folder, synapse, api, password)
        home = await api.create_room(name="matrix-commander home")
        await commander.login(home)
        return commander

    async def alias(self, room: str) -> str:
        """A local alias of ``room`` (created once; spec "PUT /directory/room/{roomAlias}")."""
        if room not in self._aliases:
            name = f"#mc-{secrets.token_hex(6)}:{self.api.user_id.split(':', 1)[1]}"
            await self.api.request("PUT", f"/v3/directory/room/{quote(name)}", {"room_id": room})
            self._aliases[room] = name
        return self._aliases[room]

    async def run(self, *args: str) -> str:
        """Run matrix-commander with this user's credentials and store; returns its stdout.
        Raises ``RuntimeError`` with its output when it fails or outlasts
        ``RUN_TIMEOUT_S``."""
        command = [commander_path(), "-c", str(self._credentials), "-s", str(self._store)]
        process = await asyncio.create_subprocess_exec(
            *command,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.folder,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError(f"matrix-commander {args} ran past {RUN_TIMEOUT_S} s") from None
        if process.returncode != 0:
            raise RuntimeError(
                f"matrix-commander {args} exited {process.returncode}: "
                f"{err.decode(errors='replace')[-2000:]}"
            )
        return out.decode(errors="replace")

    async def login(self, default_room: str) -> None:
        """Password login (``--login password``), ``default_room`` (by alias) as the default."""
        await self.run(
            "--login",
            "password",
            "--homeserver",
            self.synapse.url,
            "--user-login",
            self.api.user_id,
            "--password",
            self._password,
            "--device",
            "chatbridge-test",
            "--room-default",
            await self.alias(default_room),
        )

    async def send(self, room: str, text: str, *, html: bool = False) -> None:
        """Send ``text`` to ``room``; with ``html`` as HTML (``--html``)."""
        await self.run("-r", await self.alias(room), "-m", text, *(["--html"] if html else []))

    async def send_texts(self, room: str, *texts: str) -> None:
        """Send each of ``texts`` to ``room`` as a message of its own, in order, in one run
        (``-m`` takes several)."""
        await self.run("-r", await self.alias(room), "-m", *texts)

    async def send_image(self, room: str, path: Path) -> None:
        """Send the image file ``path`` to ``room`` (``--image``)."""
        await self.run("-r", await self.alias(room), "-i", str(path))

    async def send_file(self, room: str, path: Path) -> None:
        """Send the file ``path`` to ``room`` (``--file``)."""
        await self.run("-r", await self.alias(room), "-f", str(path))
