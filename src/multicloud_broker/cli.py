"""The `multicloud-broker` command: serve, region, fakecloud, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from multicloud_broker import warnings_log


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings_log.install()  # before anything that may warn is imported
    if argv[:1] == ["serve"]:
        from multicloud_broker.green import prepare_server, wanted_backend
        # Before anything imports socket, threading or ssl; logging is set up
        # once the configuration is loaded.
        prepare_server(wanted_backend(argv[1:]))
        return _run(argv)
    if argv[:1] == ["fakecloud"]:  # monkey-patches, then sets up its logging
        from multicloud_broker.fakecloud.cli import main as fakecloud_main
        return fakecloud_main(argv[1:])
    from multicloud_broker.logs import setup_plain_logging
    setup_plain_logging()
    if argv[:2] == ["demo", "volte"]:
        from multicloud_broker.demo.volte import main as volte_main
        return volte_main(argv[2:])
    return _run(argv)


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)


def _parser() -> argparse.ArgumentParser:
    from multicloud_broker.config import add_server_arguments
    parser = argparse.ArgumentParser(
        prog="multicloud-broker",
        description="MultiCloud API broker: routes ONAP MultiCloud calls to cloud plugins.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API")
    add_server_arguments(serve)
    serve.set_defaults(run=_serve)

    region = commands.add_parser("region", help="manage the embedded inventory")
    actions = region.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, needs_type, text in (
            ("add", True, "add a cloud region"), ("list", False, "list cloud regions"),
            ("show", False, "show one cloud region"), ("remove", False, "remove a cloud region")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--config-file", action="append", default=[], metavar="FILE")
        if name != "list":
            action.add_argument("--cloud-owner", required=True)
            action.add_argument("--cloud-region-id", required=True)
        if needs_type:
            action.add_argument("--cloud-type", required=True)
            action.add_argument("--cloud-region-version", required=True)
        action.set_defaults(run=_region)

    commands.add_parser("fakecloud", help="run the simulated cloud plugin (see --help)")
    demo = commands.add_parser("demo", help="run a demo flow through the broker")
    demo.add_argument("flow", choices=["volte"])
    return parser


def _fail(message: str) -> int:
    print(f"multicloud-broker: error: {message}", file=sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    from multicloud_broker.config import ConfigError, conf_from_args
    from multicloud_broker.core.catalog import CatalogError
    from multicloud_broker.logs import setup_logging
    from multicloud_broker.server.launcher import serve
    from multicloud_broker.server.preflight import PreflightError, check
    from multicloud_broker.server.sockets import BindError
    from multicloud_broker.web import build_app
    from multicloud_broker.wiring import build_broker

    try:
        conf = conf_from_args(args)
        setup_logging(conf)
        check(conf)  # everything a worker or a request would find wrong later
        build_broker(conf)
        # Held warnings are logged once the configuration passed: a bad one is
        # exactly its one line, whatever the dependencies said meanwhile.
        warnings_log.to_logging()
        # SIGHUP: a fresh configuration from the same files, environment and
        # flags is checked before the running one is reloaded.
        return serve(conf, lambda: build_app(conf), lambda: conf_from_args(args))
    except (ConfigError, CatalogError, BindError, PreflightError) as exc:
        return _fail(str(exc))


def _region(args: argparse.Namespace) -> int:
    from multicloud_broker.config import ConfigError, conf_from_args
    from multicloud_broker.inventory import (CloudRegion, InventoryError, RegionExists,
                                             RegionNotFound)
    from multicloud_broker.wiring import build_region_store

    try:
        conf = conf_from_args(args)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        inventory = build_region_store(conf)  # sqlite or postgresql; A&AI refused
        if args.action == "add":
            inventory.add(CloudRegion(args.cloud_owner, args.cloud_region_id,
                                      args.cloud_type, args.cloud_region_version))
            print(f"added {args.cloud_owner}/{args.cloud_region_id}")
        elif args.action == "remove":
            inventory.remove(args.cloud_owner, args.cloud_region_id)
            print(f"removed {args.cloud_owner}/{args.cloud_region_id}")
        elif args.action == "show":
            _print_regions([inventory.get(args.cloud_owner, args.cloud_region_id)])
        else:
            _print_regions(inventory.list())
    except (RegionExists, RegionNotFound, InventoryError) as exc:
        return _fail(str(exc))
    return 0


def _print_regions(regions) -> None:
    print(f"{'CLOUD-OWNER':<20} {'CLOUD-REGION-ID':<20} {'CLOUD-TYPE':<12} VERSION")
    for r in regions:
        print(f"{r.cloud_owner:<20} {r.cloud_region_id:<20} {r.cloud_type:<12} "
              f"{r.cloud_region_version}")
