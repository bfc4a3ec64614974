"""`python -m multicloud_broker.simulators.openstack`: serve the simulator.

Only the standard library is imported at module level: `main` installs the
warning filters, then monkey-patches with gevent, before anything that opens
sockets or threads is imported.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m multicloud_broker.simulators.openstack",
        description="A simulated OpenStack (Nova, Neutron, Glance, Cinder, Heat) on one port, "
                    "authenticating every request against a real Keystone. Test faults "
                    "under /_sim/ (see the package's documentation).")
    parser.add_argument("--bind-host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--bind-port", type=int, default=0,
                        help="port to listen on (0: any free port, printed at start)")
    parser.add_argument("--public-url",
                        help="the root URL clients use (default http://BIND-HOST:PORT)")
    parser.add_argument("--keystone-url", required=True,
                        help="Keystone's URL, e.g. http://127.0.0.1:5000/v3")
    parser.add_argument("--admin-user", required=True,
                        help="a user with the admin role: validates tokens, registers")
    parser.add_argument("--admin-password", required=True)
    parser.add_argument("--admin-project", required=True,
                        help="the project the admin user's token is scoped to")
    parser.add_argument("--admin-domain", default="Default",
                        help="domain name of the admin user and project")
    parser.add_argument("--register", action="store_true",
                        help="add the services and endpoints to Keystone's catalog")
    parser.add_argument("--region", default="RegionOne", help="the catalog region")
    parser.add_argument("--build-seconds", type=_non_negative_float, default=0.5,
                        help="how long servers stay BUILD, volumes creating and stacks "
                             "CREATE_IN_PROGRESS")
    parser.add_argument("--delete-seconds", type=_non_negative_float, default=0.2,
                        help="how long deleted servers and volumes stay visible (stacks: "
                             "--build-seconds)")
    parser.add_argument("--hypervisors", type=_positive_int, default=2)
    parser.add_argument("--hypervisor-vcpus", type=_positive_int, default=64)
    parser.add_argument("--hypervisor-memory-mb", type=_positive_int, default=262144)
    parser.add_argument("--hypervisor-disk-gb", type=_positive_int, default=4096)
    parser.add_argument("--availability-zones", default="nova",
                        help="comma-separated zone names; hypervisors are spread over them")
    parser.add_argument("--token-cache-seconds", type=_non_negative_float, default=300.0,
                        help="how long a validated token is trusted without asking Keystone "
                             "(never past its expiry)")
    parser.add_argument("--keystone-wait", type=_non_negative_float, default=30.0,
                        help="how long to wait for Keystone at start")
    parser.add_argument("--image-dir", help="where image data goes (default: a temporary "
                                            "directory removed at exit)")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    return parser


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    zones = tuple(z.strip() for z in args.availability_zones.split(",") if z.strip())
    if not zones:
        print("openstack simulator: --availability-zones names no zone", file=sys.stderr)
        return 2
    from multicloud_broker import warnings_log
    warnings_log.install()
    from gevent import monkey
    monkey.patch_all()
    from multicloud_broker.logs import setup_plain_logging
    setup_plain_logging()
    return serve(args, zones)


def serve(args: argparse.Namespace, zones: tuple[str, ...]) -> int:
    import logging
    import os
    import shutil
    import signal
    import tempfile
    import time

    import gevent
    from gevent import socket
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    from multicloud_broker.simulators.openstack import catalog
    from multicloud_broker.simulators.openstack.app import make_app
    from multicloud_broker.simulators.openstack.auth import TokenValidator
    from multicloud_broker.simulators.openstack.server import make_server
    from multicloud_broker.simulators.openstack.state import SimConfig

    log = logging.getLogger("openstack-simulator")
    auth = v3.Password(auth_url=catalog.identity_url(args.keystone_url),
                       username=args.admin_user, password=args.admin_password,
                       project_name=args.admin_project, user_domain_name=args.admin_domain,
                       project_domain_name=args.admin_domain)
    session = ks_session.Session(auth=auth, timeout=30, connect_retries=2)
    deadline = time.monotonic() + args.keystone_wait
    while True:
        try:
            admin_project_id = session.get_project_id()
            break
        except Exception as exc:  # connection refused while Keystone starts, bad credentials
            if time.monotonic() >= deadline:
                print(f"openstack simulator: cannot authenticate with Keystone at "
                      f"{args.keystone_url}: {exc}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in args.bind_host else socket.AF_INET)
        sock.bind((args.bind_host, args.bind_port))
        sock.listen(1024)
    except OSError as exc:
        print(f"openstack simulator: cannot listen on {args.bind_host}:{args.bind_port}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = args.bind_host if ":" not in args.bind_host else f"[{args.bind_host}]"
    root_url = (args.public_url or f"http://{host}:{port}").rstrip("/")
    image_dir = args.image_dir or tempfile.mkdtemp(prefix="openstack-sim-images-")
    config = SimConfig(region=args.region, build_seconds=args.build_seconds,
                       delete_seconds=args.delete_seconds, hypervisors=args.hypervisors,
                       hypervisor_vcpus=args.hypervisor_vcpus,
                       hypervisor_memory_mb=args.hypervisor_memory_mb,
                       hypervisor_disk_gb=args.hypervisor_disk_gb, availability_zones=zones,
                       image_dir=image_dir)
    validator = TokenValidator(session, args.keystone_url,
                               cache_seconds=args.token_cache_seconds)
    app = make_app(config, validator, admin_project_id, args.keystone_url, image_dir)
    if args.register:
        try:
            catalog.register(session, args.keystone_url, root_url, args.region)
        except Exception as exc:
            print(f"openstack simulator: cannot register in Keystone's catalog: {exc}",
                  file=sys.stderr)
            return 1
    gevent.spawn(app.cloud.tick_forever)
    server = make_server(sock, app, args.quiet)
    gevent.signal_handler(signal.SIGTERM, server.stop)
    gevent.signal_handler(signal.SIGINT, server.stop)
    print(f"openstack simulator on {root_url}", flush=True)
    try:
        server.serve_forever()
    finally:
        if not args.image_dir:
            shutil.rmtree(image_dir, ignore_errors=True)
        log.info("stopped (pid %d)", os.getpid())
    return 0
