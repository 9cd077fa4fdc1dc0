"""Command line: run the bridge (``-c config.yaml``) or write its registration (``-g``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bridge.config import Config
from bridge.errors import BridgeError, ConfigError
from bridge.registration import generate_registration

#: Exit codes: 0 clean stop, 1 the bridge failed, 2 bad configuration or arguments.
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

DESCRIPTION = """\
chatbridge: a Matrix bridge for WeChat (an appservice of your homeserver).

Run the bridge:            python -m bridge -c config.yaml
Write the registration:    python -m bridge -c config.yaml -g -r registration.yaml

-g replaces as_token/hs_token values still set to "generate" in the config file by random
tokens, writes the registration (mode 0600) and exits; add that file to the homeserver's
app_service_config_files and restart the homeserver. Then run the bridge; it runs until
SIGINT or SIGTERM. A configuration error exits with status 2.
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line ``argv`` (default ``sys.argv[1:]``); exits 2 on bad arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m bridge",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=Path("config.yaml"),
        help="the configuration file (default: config.yaml)",
    )
    parser.add_argument(
        "-g",
        "--generate-registration",
        action="store_true",
        help="write the appservice registration (see -r) and exit instead of running",
    )
    parser.add_argument(
        "-r",
        "--registration",
        type=Path,
        default=Path("registration.yaml"),
        help="where -g writes the registration (default: registration.yaml)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parse_args(argv)
    try:
        if args.generate_registration:
            generate_registration(args.config, args.registration)
            print(
                f"Wrote the appservice registration to {args.registration}. Add it to the "
                "homeserver's app_service_config_files, restart the homeserver, then start "
                f"the bridge with: python -m bridge -c {args.config}"
            )
            return EXIT_OK
        config = Config.from_file(args.config)
    except ConfigError as exc:
        print(f"chatbridge: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # Imported here: writing a registration or reporting a config error needs none of it.
    from bridge.service import BridgeService, configure_logging

    configure_logging(config)
    _warn_about_exposed_secrets(args, config)
    terminal = sys.stdout if sys.stdout.isatty() else None
    try:
        asyncio.run(BridgeService(config, qr_terminal=terminal).run())
    except ConfigError as exc:
        print(f"chatbridge: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (BridgeError, OSError) as exc:
        print(f"chatbridge: cannot run the bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _warn_about_exposed_secrets(args: argparse.Namespace, config: Config) -> None:
    """Warn (log) about each file with secrets that group or others can read: the config, the
    registration, the database and its WAL/SHM, the WeChat session files, the access tokens
    of ``login-matrix``."""
    from bridge.secretfiles import database_files, warn_if_exposed

    sessions = config.database.path.parent / "sessions"
    session_files = sorted(sessions.glob("*.json")) if sessions.is_dir() else []
    paths = [args.config, args.registration, *database_files(config.database.path)]
    warn_if_exposed([*paths, *session_files, config.double_puppet_tokens_path])


if __name__ == "__main__":
    sys.exit(main())
