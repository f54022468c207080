"""``python -m simulator``: a simulated CWork server on a port."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cwork.versions import KNOWN_VERSIONS, License

from . import DEMO_API_KEY, Simulator
from .certs import load_or_create, server_ssl_context
from .server import SimulatorServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="A simulated CWork installation (stations, states, alarms, tops, orders, "
        "documents) behind CWork's REST API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--stations", type=int, default=24, help="number of stations")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same factory")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument("--history-days", type=int, default=14)
    parser.add_argument("--tz", default="Europe/Paris", help="the CWork server's time zone")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY[=LOGIN[@GROUP]]",
        help="an API key, each a CWork user (repeatable; groups: Administrators, Supervisors, "
        f"Operators, Viewers; default: {DEMO_API_KEY})",
    )
    parser.add_argument(
        "--api-version",
        default=str(KNOWN_VERSIONS[-1]),
        help="the newest API version the server offers (default %(default)s)",
    )
    parser.add_argument(
        "--licenses",
        default="monitor,dnc,prod",
        help="licence modules, comma separated ('' for none: every call answers 3001)",
    )
    parser.add_argument("--https", action="store_true", help="serve HTTPS only, as CWork does")
    parser.add_argument(
        "--cert-dir",
        type=Path,
        default=Path(".simulator"),
        help="where the self-signed certificate is kept (made on first start)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    licenses = [name.strip() for name in args.licenses.split(",") if name.strip()]
    try:
        for name in licenses:
            License(name)
        simulator = Simulator(
            stations=args.stations,
            seed=args.seed,
            speed=args.speed,
            tz=args.tz,
            history_days=args.history_days,
            api_keys=args.api_keys or [DEMO_API_KEY],
            api_version=args.api_version,
            licenses=licenses,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ssl_context = None
    if args.https:
        pair = load_or_create(args.cert_dir)
        ssl_context = server_ssl_context(pair)
        print(f"certificate: {pair.cert_path}")
        print(f"SHA-256 fingerprint: {pair.fingerprint}")
    server = SimulatorServer(
        simulator, args.host, args.port, ssl_context=ssl_context, verbose=args.verbose
    )
    print(
        f"CWork simulator: {args.stations} stations, seed {args.seed}, speed x{args.speed:g}, "
        f"API up to v{args.api_version}, licences {','.join(licenses) or 'none'}"
    )
    print(f"listening on {server.url}  (API keys: {', '.join(simulator.api_keys)})")
    print(
        f"try: curl -s -u {simulator.api_keys[0]}: -H 'Accept: application/json+v1.16' "
        f"{'-k ' if args.https else ''}{server.url}/station_statuses"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
