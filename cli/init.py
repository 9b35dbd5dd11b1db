"""``creditlink init``: prepare a real (non-development) gateway node, then complete it.

Prepare (the node's operator, on the node's host)::

    creditlink init --node-id zj-330000 --region 330000 --kind regional \\
        --listen 0.0.0.0:7443 --advertise zj.example.cn:7443 \\
        --upstream cn-hub=hub.example.cn:7443 --dir /etc/creditlink/zj-330000

generates the node's keys (0600) and a CSR, writes ``creditlink.toml`` and the enrollment
request ``enrollment-request.json`` to send to the federation operator, and prints the
request's SHA-256 to read out to them over another channel. Once their response is back::

    creditlink init --complete response.json --roots-sha256 HEX --dir /etc/creditlink/zj-330000
    creditlink serve --config /etc/creditlink/zj-330000/creditlink.toml

checks the response against the node's keys and the federation's root keys (their fingerprint,
``HEX``, obtained out of band) and writes the credentials directory ``node/``. The work is done
by :mod:`creditlink.gateway.enrollment`; this module parses flags and prints.

Exit codes: 0 done; 2 a flag, the directory or the response is refused (nothing was written);
1 an I/O error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from creditlink.gateway.config import DEFAULT_METRICS_LISTEN, ConfigError, Upstream
from creditlink.gateway.enrollment import (
    CONFIG_FILE,
    GATEWAY_KINDS,
    REQUEST_FILE,
    EnrollmentError,
    NodeParameters,
    complete_node,
    create_node,
    kind_from_name,
    kind_name,
)
from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.keys import Algorithm

__all__ = ["DEFAULT_DIR", "register"]

#: Where ``creditlink init`` prepares the node unless ``--dir`` says otherwise.
DEFAULT_DIR: Final = Path("creditlink-node")
_SEALING: Final = {
    "x25519": Algorithm.X25519_HPKE,
    "mlkem768-x25519": Algorithm.MLKEM768_X25519_HPKE,
}
# Flags that describe the node; none of them goes with --complete.
_NODE_FLAGS: Final = (
    "node_id",
    "region",
    "kind",
    "sector",
    "display_name",
    "listen",
    "advertise",
    "upstream",
    "store",
    "metrics_listen",
    "log_origin",
    "sealing",
)


def register(sub: Any) -> None:
    """Add the ``init`` subcommand to ``sub`` (an argparse subparsers action)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "init",
        help="prepare a real gateway node (keys, CSR, config, enrollment request), then "
        "complete it with the federation's response",
        description=(
            "Prepare a gateway node for a federation: keys, a certificate signing request, "
            "creditlink.toml and an enrollment request for the federation operator. With "
            "--complete, install the federation's response (certificate, trust bundle, root "
            "keys) as the node's credentials directory. See docs/enrollment.md."
        ),
    )
    parser.add_argument("--node-id", metavar="ID", help="node id, e.g. zj-330000")
    parser.add_argument("--region", metavar="CODE", help="GB/T 2260 region code, e.g. 330000")
    parser.add_argument(
        "--kind",
        choices=[kind_name(k) for k in GATEWAY_KINDS],
        help="node kind (hub: the national hub)",
    )
    parser.add_argument("--sector", metavar="NAME", help="sector (required for --kind sectoral)")
    parser.add_argument("--display-name", metavar="TEXT", help="human-readable name")
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help="gRPC listen address, e.g. 0.0.0.0:7443"
    )
    parser.add_argument(
        "--advertise",
        metavar="HOST:PORT",
        action="append",
        help="where peers reach the node (repeatable; default: --listen); the certificate "
        "names exactly these hosts",
    )
    parser.add_argument(
        "--upstream",
        metavar="NODE_ID=HOST:PORT",
        help="the node this one forwards to, e.g. cn-hub=hub.example.cn:7443",
    )
    parser.add_argument("--store", metavar="URL", help="store URL (default: SQLite in DIR/data)")
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help=f"metrics and /healthz address (default {DEFAULT_METRICS_LISTEN})",
    )
    parser.add_argument(
        "--log-origin", metavar="ORIGIN", help="log origin (default creditlink/<node id>)"
    )
    parser.add_argument(
        "--sealing",
        choices=list(_SEALING),
        help="sealing key algorithm (default x25519)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        metavar="DIR",
        help=f"the node directory (default ./{DEFAULT_DIR}); must not exist or be empty",
    )
    parser.add_argument(
        "--complete",
        type=Path,
        metavar="RESPONSE",
        help="install the federation's enrollment response in DIR",
    )
    parser.add_argument(
        "--roots-sha256",
        metavar="HEX",
        help="with --complete: the federation's root-key fingerprint (sha256sum of its "
        "roots.pem), obtained over another channel than the response",
    )
    parser.set_defaults(run=_run)


def _fail(message: str, code: int = 2) -> int:
    print(f"creditlink init: error: {message}", file=sys.stderr, flush=True)
    return code


def _upstream(text: str) -> Upstream:
    node_id, sep, endpoint = text.partition("=")
    if not sep or not node_id or not endpoint:
        raise EnrollmentError(
            f"--upstream {text!r} is not NODE_ID=HOST:PORT", reason="ENROLLMENT_INVALID_PARAMETER"
        )
    return Upstream(endpoint=endpoint, node_id=node_id)


def _prepare(args: argparse.Namespace) -> int:
    missing = [
        flag
        for flag, value in (
            ("--node-id", args.node_id),
            ("--region", args.region),
            ("--kind", args.kind),
            ("--listen", args.listen),
        )
        if value is None
    ]
    if missing:
        return _fail(f"{', '.join(missing)} required (or --complete RESPONSE to finish a node)")
    if args.roots_sha256 is not None:
        return _fail("--roots-sha256 goes with --complete")
    params = NodeParameters(
        node_id=args.node_id,
        kind=kind_from_name(args.kind),
        region_code=args.region,
        sector=args.sector or "",
        display_name=args.display_name or "",
        listen=args.listen,
        advertise=tuple(args.advertise or ()),
        upstream=_upstream(args.upstream) if args.upstream else None,
        store_url=args.store or "",
        metrics_listen=args.metrics_listen or DEFAULT_METRICS_LISTEN,
        log_origin=args.log_origin or "",
        sealing_algorithm=_SEALING[args.sealing or "x25519"],
    )
    prepared = create_node(args.dir, params)
    request = prepared.request
    directory = prepared.directory
    keys = (
        ("signing key", request.signing_key),
        ("sealing key", request.sealing_key),
        ("checkpoint key", request.checkpoint_key),
    )
    lines = [
        f"creditlink init: node {request.node_id} prepared in {directory} (not a member yet)",
        f"  kind, region       : {kind_name(request.kind)}, {request.region_code}"
        + (f", sector {request.sector}" if request.sector else ""),
        f"  advertised         : {', '.join(request.endpoints)}",
        f"  config             : {prepared.config_path}",
        f"  enrollment request : {prepared.request_path}",
        f"  request sha256     : {prepared.request_sha256}",
        f"  tls spki sha256    : {request.tls_spki_sha256.hex()}",
        *(f"  {name:<19}: {key.key_id} ({key.algorithm.name})" for name, key in keys),
        "Next:",
        f"  1. send {REQUEST_FILE} to the federation operator, and read them the request "
        "sha256 over another channel (phone, in person);",
        "  2. with their response and the federation's roots sha256 (also over another "
        "channel), run",
        f"     creditlink init --complete RESPONSE.json --roots-sha256 HEX --dir {directory}",
        f"  3. creditlink serve --config {directory / CONFIG_FILE}",
    ]
    print("\n".join(lines), flush=True)
    return 0


def _complete(args: argparse.Namespace) -> int:
    given = [f"--{name.replace('_', '-')}" for name in _NODE_FLAGS if getattr(args, name)]
    if given:
        return _fail(f"--complete takes only --dir and --roots-sha256, not {', '.join(given)}")
    if not args.roots_sha256:
        return _fail(
            "--complete needs --roots-sha256 HEX: the fingerprint of the federation's root "
            "keys (sha256sum of its roots.pem), which its operator gives you over another "
            "channel than the response"
        )
    try:
        response = args.complete.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.complete}: {exc.strerror}")
    done = complete_node(args.dir, response, roots_sha256=args.roots_sha256)
    creds = done.credentials
    bundle = creds.trust_bundle
    lines = [
        f"creditlink init: node {creds.node_id} is a member of federation "
        f"{bundle.federation_id} (trust bundle v{bundle.version})",
        f"  credentials : {creds.directory}",
        f"  config      : {done.config_path}",
        f"  listens on  : {', '.join(creds.endpoints)}",
        f"  start with  : creditlink serve --config {done.config_path}",
    ]
    print("\n".join(lines), flush=True)
    for warning in done.warnings:
        print(f"creditlink init: warning: {warning}", file=sys.stderr, flush=True)
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        return _complete(args) if args.complete is not None else _prepare(args)
    except (CreditlinkError, ConfigError, ValueError) as exc:
        # CreditlinkError covers EnrollmentError and identifier errors; messages name the
        # parameter and never hold key material.
        return _fail(exc.args[0] if exc.args else str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}", code=1)
