"""Runs an unmodified itchat (whichever ``import itchat`` finds first on PYTHONPATH) against a
simulator, driven by JSON lines: commands on stdin, events on stdout.

Used by ``test_itchat_1310_conformance.py`` in a subprocess whose PYTHONPATH starts with the
itchat 1.3.10 target directory (``scripts/bootstrap.sh``), since itchat 1.3.10 and itchat-uos
install the same module name. Only itchat's public API is called; nothing is patched except
``itchat.config.BASE_URL`` (its documented login host setting); the one standard-library
method Python 3.9 removed and itchat 1.3.10 calls is given back (see below).

Usage: ``python itchat_driver.py <simulator base URL>``. Events: ``{"event": "qr", "uuid"}``,
``{"event": "logged_in"}``, then one answer per command, ``{"event": "exited"}`` when its
receive loop ended. Commands (``{"cmd": …}``): ``contacts``, ``wait`` (``msg_id``,
``download``?: path), ``send_msg`` (``text``, ``to``), ``send_image`` (``path``, ``to``),
``revoke`` (``msg_id``, ``to``), ``wait_exit`` (``timeout``), ``quit``. Event lines start with
``MARK``; anything else on stdout is itchat's own output.
"""

from __future__ import annotations

import html
import html.parser
import json
import queue
import sys
import threading
import time
from typing import Any

# itchat 1.3.10 (2017) unescapes Content with ``HTMLParser().unescape``, a standard-library
# method that was ``html.unescape`` under another name until Python 3.9 removed it. Giving
# the running Python that method back is the runtime the client was written for; itchat and
# everything it says on the wire stay as published.
if not hasattr(html.parser.HTMLParser, "unescape"):
    html.parser.HTMLParser.unescape = lambda self, s: html.unescape(s)  # type: ignore[attr-defined]

import itchat

#: Starts every event line: itchat itself prints to stdout too (progress, screen clears).
MARK = "@@itchat-driver@@ "


def emit(**event: Any) -> None:
    sys.stdout.write("\n" + MARK + json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def summary(msg: Any) -> dict[str, Any]:
    text = msg.get("Text")
    return {
        "MsgId": msg.get("MsgId"),
        "Type": msg.get("Type"),
        "Text": text if isinstance(text, str) else None,
        "FromUserName": msg.get("FromUserName"),
        "ToUserName": msg.get("ToUserName"),
        "ActualUserName": msg.get("ActualUserName"),
        "ActualNickName": msg.get("ActualNickName"),
        "FileName": msg.get("FileName"),
    }


def wait_for(core: Any, msg_id: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = core.msgList.get(timeout=0.2)
        except queue.Empty:
            continue
        if msg.get("MsgId") == msg_id:
            return msg
    return None


def ret_of(answer: Any) -> dict[str, Any]:
    base = answer.get("BaseResponse") or {}
    return {"Ret": base.get("Ret"), "ErrMsg": base.get("ErrMsg"), "MsgID": answer.get("MsgID")}


def main() -> None:
    itchat.config.BASE_URL = sys.argv[1]
    core = itchat.new_instance()
    exited = threading.Event()

    def on_qr(uuid: str, status: str, qrcode: bytes) -> None:
        if status == "0":
            emit(event="qr", uuid=uuid)

    core.login(qrCallback=on_qr, loginCallback=lambda: None, exitCallback=exited.set)
    emit(event="logged_in", version=itchat.__version__)
    for line in sys.stdin:
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "contacts":
            friends = [
                {k: f.get(k) for k in ("UserName", "NickName", "RemarkName", "Alias")}
                for f in core.get_friends()
            ]
            rooms = [{k: r.get(k) for k in ("UserName", "NickName")} for r in core.get_chatrooms()]
            emit(event="contacts", friends=friends, chatrooms=rooms)
        elif cmd == "wait":
            msg = wait_for(core, command["msg_id"], command.get("timeout", 15))
            if msg is None:
                emit(event="message", found=False)
                continue
            out = summary(msg)
            if command.get("download") and callable(msg.get("Text")):
                msg["Text"](command["download"])
                out["downloaded"] = command["download"]
            emit(event="message", found=True, **out)
        elif cmd == "send_msg":
            emit(event="sent", **ret_of(core.send_msg(command["text"], command["to"])))
        elif cmd == "send_image":
            emit(event="sent", **ret_of(core.send_image(command["path"], command["to"])))
        elif cmd == "revoke":
            emit(event="revoked", **ret_of(core.revoke(command["msg_id"], command["to"])))
        elif cmd == "wait_exit":
            emit(event="exited", exited=exited.wait(command.get("timeout", 15)))
        elif cmd == "quit":
            core.alive = False
            emit(event="bye")
            return


if __name__ == "__main__":
    main()
