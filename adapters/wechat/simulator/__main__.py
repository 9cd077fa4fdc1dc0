"""``python -m adapters.wechat.simulator``: serve the WeChat web simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .control import SimulatorControl
from .demo import create_demo
from .server import start_simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m adapters.wechat.simulator",
        description="A stateful WeChat web-protocol server for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (8765)")
    parser.add_argument("--demo", action="store_true", help="create the demo account")
    parser.add_argument(
        "--auto-scan", action="store_true", help="the demo phone confirms every QR by itself"
    )
    parser.add_argument("--synccheck-hold", type=float, default=25.0, metavar="S")
    parser.add_argument("--login-poll-hold", type=float, default=25.0, metavar="S")
    parser.add_argument("--revoke-window", type=float, default=120.0, metavar="S")
    parser.add_argument("--burst-limit", type=int, default=60, metavar="N")
    parser.add_argument("--contact-page-size", type=int, default=500, metavar="N")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    simulator = await start_simulator(
        args.host,
        args.port,
        synccheck_hold_s=args.synccheck_hold,
        login_poll_hold_s=args.login_poll_hold,
        revoke_window_s=args.revoke_window,
        send_burst_limit=args.burst_limit,
        contact_page_size=args.contact_page_size,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        print(f"simulator listening on {simulator.base_url}", flush=True)
        if args.demo:
            async with SimulatorControl(simulator.base_url) as control:
                demo = await create_demo(control, auto_scan=args.auto_scan)
            print(f"demo account {demo.account}", flush=True)
        await stop.wait()
    finally:
        await simulator.close()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and serve; returns the exit status (0 after a clean stop)."""
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
