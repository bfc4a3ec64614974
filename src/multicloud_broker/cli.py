"""The `multicloud-broker` command: serve, openstack-plugin, region, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from multicloud_broker import warnings_log


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings_log.install()  # before anything that may warn is imported
    if argv[:1] in (["serve"], ["openstack-plugin"]):
        from multicloud_broker.green import prepare_server, wanted_backend
        # Before anything imports socket, threading or ssl; logging is set up
        # once the configuration is loaded.
        prepare_server(wanted_backend(argv[1:]))
        return _run(argv)
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

    plugin = commands.add_parser(
        "openstack-plugin", help="serve the OpenStack plugin ([openstack_plugin] options)")
    add_server_arguments(plugin)
    plugin.set_defaults(run=_serve_plugin)

    region = commands.add_parser("region", help="manage the embedded inventory")
    actions = region.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
            ("add", "add a cloud region"), ("update", "change a cloud region (what is given)"),
            ("list", "list cloud regions"), ("show", "show one cloud region"),
            ("remove", "remove a cloud region")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--config-file", action="append", default=[], metavar="FILE")
        if name != "list":
            action.add_argument("--cloud-owner", required=True)
            action.add_argument("--cloud-region-id", required=True)
        if name in ("add", "update"):
            action.add_argument("--cloud-type", required=name == "add")
            action.add_argument("--cloud-region-version", required=name == "add")
            _access_arguments(action, name == "update")
        action.set_defaults(run=_region)

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


# The cloud's access (A&AI's esr-system-info): flag, its A&AI name.
_ACCESS_FLAGS = {"auth_url": ("--auth-url", "service-url"),
                 "username": ("--username", "user-name"),
                 "password": ("--password-file/--password-env", "password"),
                 "user_domain": ("--user-domain", "cloud-domain"),
                 "project": ("--project", "default-tenant"),
                 "ca_cert": ("--ca-file", "ssl-cacert"),
                 "insecure": ("--insecure", "ssl-insecure"),
                 "openstack_region": ("--openstack-region", "openstack-region-id")}


def _access_arguments(action: argparse.ArgumentParser, update: bool) -> None:
    access = action.add_argument_group(
        "the cloud's access (A&AI's esr-system-info); the password is never an argument "
        "(arguments show in ps)")
    access.add_argument("--auth-url", help="Keystone's URL, http(s)://... (service-url)")
    access.add_argument("--username", help="the cloud user (user-name)")
    secret = access.add_mutually_exclusive_group()
    secret.add_argument("--password-file", metavar="FILE",
                        help="read the password from FILE ('-': standard input); one "
                             "trailing newline is dropped")
    secret.add_argument("--password-env", metavar="NAME",
                        help="read the password from environment variable NAME")
    access.add_argument("--user-domain", help='the user\'s Keystone domain (cloud-domain; '
                        'default "Default")')
    access.add_argument("--project", help="the project to scope to (default-tenant)")
    access.add_argument("--ca-file", metavar="FILE",
                        help="PEM file of the CA that signed Keystone's certificate; its "
                             "text is stored (ssl-cacert)")
    access.add_argument("--insecure", action=argparse.BooleanOptionalAction, default=None,
                        help="do not verify Keystone's certificate (ssl-insecure)")
    access.add_argument("--openstack-region",
                        help="the region's name in Keystone's catalog (default: "
                             "--cloud-region-id)")
    if update:
        access.add_argument("--no-access", action="store_true",
                            help="remove the cloud's access from the region")


class _AccessArgumentError(Exception):
    pass


def _access_from_args(args: argparse.Namespace, current=None):
    """The CloudAccess the arguments describe (over `current`, for update);
    None if they describe none. _AccessArgumentError names the flag."""
    import dataclasses
    import os

    from multicloud_broker.inventory import CloudAccess
    from multicloud_broker.inventory.esr import (PEM_MARK, AccessError, check_text,
                                                 check_url)

    given = {}
    for name in ("auth_url", "username", "user_domain", "project", "insecure",
                 "openstack_region"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.password_file is not None:
        given["password"] = _read_secret(args.password_file)
    elif args.password_env is not None:
        value = os.environ.get(args.password_env)
        if not value:
            raise _AccessArgumentError(f"--password-env: environment variable "
                                       f"{args.password_env} is not set or empty")
        given["password"] = value
    if args.ca_file is not None:
        try:
            with open(args.ca_file, encoding="utf-8") as f:
                given["ca_cert"] = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise _AccessArgumentError(f"--ca-file {args.ca_file}: "
                                       f"{getattr(exc, 'strerror', None) or exc}") from None
        if PEM_MARK not in given["ca_cert"]:
            raise _AccessArgumentError(f"--ca-file {args.ca_file}: no PEM certificate "
                                       f"({PEM_MARK}) in it")
    if getattr(args, "no_access", False):
        if given:
            raise _AccessArgumentError("--no-access removes the access: give no other "
                                       "access option with it")
        return None
    if not given:
        return current
    if current is not None:
        access = dataclasses.replace(current, **given)
        moved = (access.auth_url, access.username) != (current.auth_url, current.username)
        if moved and current.has_password and "password" not in given:
            # As the regions API: a stored password is never sent to another
            # Keystone, nor for another user, unless given again.
            raise _AccessArgumentError("--auth-url or --username changed: give the "
                                       "password again (--password-file or --password-env)")
    elif "auth_url" in given and "username" in given:
        access = CloudAccess(**{"auth_url": "", "username": "", **given})
    else:
        raise _AccessArgumentError("--auth-url and --username are required with the other "
                                   "access options")
    try:
        check_url(access.auth_url, _ACCESS_FLAGS["auth_url"][0])
        for name, value in dataclasses.asdict(access).items():
            if isinstance(value, str):
                check_text(value, _ACCESS_FLAGS[name][0])
    except AccessError as exc:
        raise _AccessArgumentError(exc.message) from None
    if not access.username.strip():
        raise _AccessArgumentError("--username must not be empty")
    if access.password == "":
        raise _AccessArgumentError("the password must not be empty")
    return access


def _read_secret(path: str) -> str:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise _AccessArgumentError(f"--password-file {path}: "
                                   f"{getattr(exc, 'strerror', None) or exc}") from None
    for end in ("\r\n", "\n"):
        if text.endswith(end):
            return text[:-len(end)]
    return text


def _serve_plugin(args: argparse.Namespace) -> int:
    from multicloud_broker.config import ConfigError
    from multicloud_broker.logs import setup_logging
    from multicloud_broker.plugin.wiring import build_plugin_app, plugin_checks, plugin_conf
    from multicloud_broker.server.launcher import serve
    from multicloud_broker.server.preflight import PreflightError
    from multicloud_broker.server.sockets import BindError

    try:
        conf = plugin_conf(args)
        setup_logging(conf)
        plugin_checks(conf)
        warnings_log.to_logging()
        return serve(conf, lambda: build_plugin_app(conf), lambda: plugin_conf(args),
                     checks=plugin_checks)
    except (ConfigError, BindError, PreflightError) as exc:
        return _fail(str(exc))


def _region(args: argparse.Namespace) -> int:
    import dataclasses
    import time

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
                                      args.cloud_type, args.cloud_region_version,
                                      access=_access_from_args(args)))
            print(f"added {args.cloud_owner}/{args.cloud_region_id}")
        elif args.action == "update":
            # Read, change what is given, write back: not atomic (a write through
            # the regions API in between is overwritten); resource-version moves.
            current = inventory.get(args.cloud_owner, args.cloud_region_id)
            changes = {name: getattr(args, name) for name in ("cloud_type",
                       "cloud_region_version") if getattr(args, name) is not None}
            changes["access"] = _access_from_args(args, current.access)
            extra = dict(current.extra, **{"resource-version": str(time.time_ns())})
            inventory.put(dataclasses.replace(current, extra=extra, **changes))
            print(f"updated {args.cloud_owner}/{args.cloud_region_id}")
        elif args.action == "remove":
            inventory.remove(args.cloud_owner, args.cloud_region_id)
            print(f"removed {args.cloud_owner}/{args.cloud_region_id}")
        elif args.action == "show":
            _print_regions([inventory.get(args.cloud_owner, args.cloud_region_id)],
                           details=True)
        else:
            _print_regions(inventory.list())
    except _AccessArgumentError as exc:
        return _fail(str(exc))
    except (RegionExists, RegionNotFound, InventoryError) as exc:
        return _fail(str(exc))
    return 0


def _print_regions(regions, details: bool = False) -> None:
    print(f"{'CLOUD-OWNER':<20} {'CLOUD-REGION-ID':<20} {'CLOUD-TYPE':<12} VERSION")
    for r in regions:
        print(f"{r.cloud_owner:<20} {r.cloud_region_id:<20} {r.cloud_type:<12} "
              f"{r.cloud_region_version}")
    if not details:
        return
    for r in regions:  # show: the access, never the password itself
        a = r.access
        if a is None:
            print("access: not set")
            continue
        print(f"auth-url: {a.auth_url}\nusername: {a.username}\n"
              f"password: {'set' if a.has_password else 'not set'}\n"
              f"user-domain: {a.user_domain}\nproject: {a.project or '(none)'}\n"
              f"ca-cert: {_ca_summary(a.ca_cert)}\n"
              f"insecure: {'yes' if a.insecure else 'no'}\n"
              f"openstack-region: {a.openstack_region}")


def _ca_summary(pem: str) -> str:
    if not pem:
        return "not set (the system's CAs)"
    count = pem.count("-----BEGIN CERTIFICATE-----")
    return f"set ({count} certificate{'s' if count != 1 else ''}, {len(pem)} characters)"
