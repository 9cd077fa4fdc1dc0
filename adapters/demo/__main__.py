"""``python -m adapters.demo``: Synapse, the WeChat simulator and the bridge, scripted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from adapters.demo.script import run_script
from adapters.demo.stack import DemoError, DemoPorts, DemoStack, env_port
from adapters.demo.transcript import transcript

#: Exit codes: 0 after the script (--exit-after-script) or Ctrl-C, 1 when the demo failed.
EXIT_OK, EXIT_FAILED = 0, 1

DESCRIPTION = """\
A local demo of chatbridge on 127.0.0.1: starts a Synapse homeserver, the WeChat simulator
(a demo account with contacts and a group) and the bridge; logs the demo Matrix user in to
WeChat through the bot's QR flow; runs a short conversation both ways (with a recall each
way and a group message); prints the transcript as the Matrix user saw it; then keeps
running, with the credentials printed, so you can connect any Matrix client, until Ctrl-C.
Every run starts afresh in the data folder.
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line ``argv`` (default ``sys.argv[1:]``); ports default to the
    ``DEMO_*_PORT`` environment variables, else 8008, 29350 and 8765. Exits 2 when bad."""
    parser = argparse.ArgumentParser(
        prog="python -m adapters.demo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    try:
        ports = DemoPorts(
            synapse=env_port("DEMO_SYNAPSE_PORT", 8008),
            bridge=env_port("DEMO_BRIDGE_PORT", 29350),
            simulator=env_port("DEMO_SIMULATOR_PORT", 8765),
        )
    except DemoError as exc:
        parser.error(str(exc))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".demo"),
        help="folder for Synapse, the bridge's database and logs; wiped at each run "
        "(default: .demo)",
    )
    for name, what, default in (
        ("synapse", "Synapse's client API", ports.synapse),
        ("bridge", "the bridge's appservice", ports.bridge),
        ("simulator", "the WeChat simulator", ports.simulator),
    ):
        parser.add_argument(
            f"--{name}-port",
            type=int,
            default=default,
            metavar="PORT",
            help=f"port of {what} (default: DEMO_{name.upper()}_PORT or {default})",
        )
    parser.add_argument(
        "--exit-after-script",
        action="store_true",
        help="stop everything after printing the transcript instead of running on",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns the exit status."""
    args = parse_args(argv)
    ports = DemoPorts(args.synapse_port, args.bridge_port, args.simulator_port)
    out = sys.stdout
    stack = DemoStack(args.data_dir.resolve(), ports, qr_terminal=out if out.isatty() else None)
    try:
        return asyncio.run(_run(stack, out, exit_after_script=args.exit_after_script))
    except KeyboardInterrupt:  # a Ctrl-C before the signal handlers were installed
        return EXIT_OK


async def _run(stack: DemoStack, out: TextIO, *, exit_after_script: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    demo = asyncio.create_task(_demo(stack, out, stop, exit_after_script=exit_after_script))
    stopped = asyncio.create_task(stop.wait())
    status = EXIT_OK
    try:
        await asyncio.wait({demo, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            _print(out, "", "Stopping the bridge, the simulator and Synapse...")
        if demo.done():
            status = demo.result()
        else:
            demo.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await demo
    finally:
        stopped.cancel()
        await stack.stop()
        for sig in signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    _print(out, "Stopped.")
    return status


async def _demo(
    stack: DemoStack, out: TextIO, stop: asyncio.Event, *, exit_after_script: bool
) -> int:
    step = ["starting"]

    def say(text: str) -> None:
        step[0] = text
        _print(out, f"* {text}")

    try:
        _print(out, f"Starting Synapse, the WeChat simulator and the bridge in {stack.folder}...")
        await stack.start()
        _print(out, "Started. The scripted conversation:")
        result = await run_script(stack, say)
        outbox = await stack.control.outbox(stack.demo.account)
        lines = await transcript(stack.user, result.rooms, outbox, result.names)
        _print(out, "", *lines)
    except DemoError as exc:
        _print(out, f"demo: {exc}", stream=sys.stderr)
        return EXIT_FAILED
    except TimeoutError:
        _print(out, f"demo: stuck at: {step[0]}", *_logs(stack), stream=sys.stderr)
        return EXIT_FAILED
    except (RuntimeError, OSError) as exc:
        _print(out, f"demo: {exc}", *_logs(stack), stream=sys.stderr)
        return EXIT_FAILED
    if exit_after_script:
        return EXIT_OK
    # From here on a person drives: a new login should not wait for a scripted phone.
    await stack.control.update_account(stack.demo.account, auto_scan=True)
    _print(out, "", *_running(stack))
    await stop.wait()
    return EXIT_OK


def _running(stack: DemoStack) -> list[str]:
    config = stack.service.config
    sim = stack.simulator_url
    return [
        f"The demo keeps running (data in {stack.folder}, bridge log in {stack.log_path}).",
        "Connect any Matrix client (Element, matrix-commander, ...):",
        f"  homeserver:  {stack.homeserver_url}",
        f"  user:        {stack.user.user_id}",
        f"  password:    {stack.password}",
        f"  bridge bot:  {config.bot_user_id}   (send it 'help')",
        f"WeChat is the simulator at {sim}; make Carol write to you with:",
        f'  curl -s -H \'Content-Type: application/json\' -d \'{{"from": "{stack.demo.carol}", '
        f'"text": "Hello from WeChat"}}\' {sim}/_sim/accounts/{stack.demo.account}/messages',
        "The demo phone now confirms new QR codes by itself. Press Ctrl-C to stop.",
    ]


def _logs(stack: DemoStack) -> list[str]:
    return [f"  bridge log: {stack.log_path}", f"  Synapse log: {stack.synapse_log()}"]


def _print(out: TextIO, *lines: str, stream: TextIO | None = None) -> None:
    target = stream or out
    for line in lines:
        print(line, file=target, flush=True)


if __name__ == "__main__":
    sys.exit(main())
