"""`multicloud-broker fakecloud`: serve the simulated cloud on eventlet WSGI.

Only the standard library is imported at module level: `main` monkey-patches
eventlet before anything that opens sockets or threads is imported.
"""

from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multicloud-broker fakecloud",
        description="A simulated cloud answering the plugin side of MultiCloud API v0 "
                    "and v1 under /api/{plugin}/v0/{owner}_{region}/... and "
                    "/api/{plugin}/v1/{owner}/{region}/...")
    parser.add_argument("--bind-host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--bind-port", type=int, default=9006,
                        help="port to listen on (0: any free port, printed at start)")
    parser.add_argument("--state-file", default="var/fakecloud.sqlite",
                        help="SQLite file keeping every region's state")
    parser.add_argument("--total-vcpus", type=_non_negative, default=64,
                        help="vCPUs each region has (capacity_check, quotas)")
    parser.add_argument("--total-memory-mb", type=_non_negative, default=131072,
                        help="memory in MB each region has")
    parser.add_argument("--total-storage-gb", type=_non_negative, default=2048,
                        help="storage in GB each region has")
    parser.add_argument("--build-seconds", type=float, default=1.0,
                        help="how long servers stay in BUILD and workloads in "
                             "CREATE_IN_PROGRESS")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    return parser


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.build_seconds < 0:
        print("fakecloud: --build-seconds must not be negative", file=sys.stderr)
        return 2
    from multicloud_broker.green import monkey_patch
    monkey_patch()
    from multicloud_broker.logs import setup_plain_logging
    setup_plain_logging()
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    import eventlet
    import eventlet.wsgi

    from multicloud_broker.fakecloud.app import make_app

    try:
        # No SO_REUSEPORT: a second fakecloud on a busy port must fail, not share it.
        sock = eventlet.listen((args.bind_host, args.bind_port), backlog=1024,
                               reuse_port=False)
    except OSError as exc:
        print(f"fakecloud: cannot listen on {args.bind_host}:{args.bind_port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        app = make_app(args.state_file, args.total_vcpus, args.total_memory_mb,
                       args.total_storage_gb, args.build_seconds)
    except Exception as exc:  # e.g. a state file that is not SQLite
        print(f"fakecloud: cannot open state file {args.state_file}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    print(f"fakecloud listening on http://{host}:{port} (pid {os.getpid()}, "
          f"state {os.path.abspath(args.state_file)})", flush=True)
    log = open(os.devnull, "w") if args.quiet else sys.stderr
    try:
        eventlet.wsgi.server(sock, app, log=log, log_output=not args.quiet)
    except KeyboardInterrupt:
        pass
    return 0
