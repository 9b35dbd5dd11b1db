"""``creditlink federation``: the federation operator's side of enrolling nodes.

::

    creditlink federation create --dir DIR --federation-id cn-credit [--roots 3 --threshold 2]
    creditlink federation enroll REQUEST.json --federation DIR [--request-sha256 HEX]
                                 [--grants default|read|none] [--out RESPONSE.json]
    creditlink federation renew --federation DIR
    creditlink federation install-bundle BUNDLE.json [...] --credentials DIR    (any member)

``create`` makes the root keys, the federation CA, version 1 of the trust bundle and the
operator's own client credentials (``DIR/operator``); ``enroll`` admits a node prepared with
``creditlink init`` and writes the response to hand back; ``renew`` signs the next version with
the same content before the current one expires; ``install-bundle`` installs new versions in a
member's credentials directory. The work is done by :mod:`creditlink.gateway.enrollment`.

Exit codes: 0 done; 2 refused (bad argument, request, directory; nothing was changed); 1 an
I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from creditlink.gateway.bootstrap import Grant
from creditlink.gateway.enrollment import (
    DEFAULT_OPERATOR_ID,
    DEFAULT_VALIDITY,
    GRANT_POLICIES,
    ROOTS_FILE,
    EnrollmentRequest,
    create_federation,
    enroll,
    kind_name,
    renew_bundle,
)
from creditlink.sdk.credentials import read_trust_bundle, update_trust_bundle
from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.trust import read_trust_bundle_envelope

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``federation`` (create, enroll, renew, install-bundle) to ``sub``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "federation", help="operate a federation: create it, enroll nodes, renew its bundle"
    )
    commands = parser.add_subparsers(dest="federation_command", metavar="COMMAND", required=True)

    create = commands.add_parser(
        "create", help="root keys, CA, trust bundle v1 and operator credentials in DIR"
    )
    create.add_argument("--dir", type=Path, required=True, help="federation directory (new)")
    create.add_argument("--federation-id", required=True, metavar="ID", help="e.g. cn-credit")
    create.add_argument("--roots", type=int, default=1, help="number of root keys (default 1)")
    create.add_argument(
        "--threshold", type=int, default=1, help="root signatures each version needs (default 1)"
    )
    create.add_argument(
        "--operator-id",
        default=DEFAULT_OPERATOR_ID,
        metavar="ID",
        help=f"node id of the operator's client credentials (default {DEFAULT_OPERATOR_ID})",
    )
    create.add_argument(
        "--operator-region",
        default="100000",
        metavar="CODE",
        help="region code of the operator (default 100000, national)",
    )
    create.set_defaults(run=_create)

    add = commands.add_parser("enroll", help="admit a node from its enrollment request")
    add.add_argument("request", type=Path, metavar="REQUEST", help="enrollment-request.json")
    add.add_argument("--federation", type=Path, required=True, metavar="DIR")
    add.add_argument(
        "--grants",
        choices=GRANT_POLICIES,
        default="default",
        help="permissions: the kind's defaults, read-only, or none (default: default)",
    )
    add.add_argument(
        "--request-sha256",
        metavar="HEX",
        help="the request fingerprint the node's operator gave you over another channel",
    )
    add.add_argument(
        "--valid-days",
        type=int,
        default=DEFAULT_VALIDITY.days,
        help=f"validity of the node's keys and certificate (default {DEFAULT_VALIDITY.days})",
    )
    add.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write the response (default ./<node id>-enrollment-response.json)",
    )
    add.set_defaults(run=_enroll)

    renew = commands.add_parser("renew", help="sign the next bundle version, same content")
    renew.add_argument("--federation", type=Path, required=True, metavar="DIR")
    renew.set_defaults(run=_renew)

    install = commands.add_parser(
        "install-bundle", help="install new trust bundle versions in a credentials directory"
    )
    install.add_argument(
        "bundles", type=Path, nargs="+", metavar="BUNDLE", help="versions, oldest first"
    )
    install.add_argument("--credentials", type=Path, required=True, metavar="DIR")
    install.set_defaults(run=_install)


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"creditlink federation {command}: error: {message}", file=sys.stderr, flush=True)
    return code


def _guarded(command: str, args: argparse.Namespace, body: Any) -> int:
    try:
        code: int = body(args)
        return code
    except (CreditlinkError, ValueError) as exc:
        return _fail(command, exc.args[0] if exc.args else str(exc))
    except OSError as exc:
        return _fail(command, f"{exc.filename or ''}: {exc.strerror or exc}", code=1)


def _warn(command: str, warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"creditlink federation {command}: warning: {warning}", file=sys.stderr)


def _create(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        federation = create_federation(
            args.dir,
            federation_id=args.federation_id,
            roots=args.roots,
            threshold=args.threshold,
            operator_id=args.operator_id,
            operator_region=args.operator_region,
        )
        fed = federation.federation_dir
        lines = [
            f"creditlink federation create: federation {federation.federation_id} in "
            f"{federation.directory}",
            f"  root keys            : {len(federation.root_files)} in {fed} (0600), "
            f"{federation.root_threshold} must sign each version",
            f"  roots sha256         : {federation.roots_sha256}",
            f"  public root keys     : {fed / ROOTS_FILE} (publish; its sha256 is the above)",
            f"  CA                   : {fed / 'ca.pem'}",
            f"  trust bundle         : v1 in {fed / 'bundles' / '1.json'}",
            f"  operator credentials : {federation.directory / 'operator'}",
            "Keep this directory private: it holds the root keys and the CA key.",
        ]
        print("\n".join(lines), flush=True)
        return 0

    return _guarded("create", args, body)


def _grant_text(grant: Grant) -> str:
    return f"{grant.action.name.lower()} {','.join(grant.kinds)} in {','.join(grant.scopes)}"


def _enroll(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        if args.valid_days < 1:
            return _fail("enroll", "--valid-days must be at least 1")
        request_json = args.request.read_bytes()
        node_id = EnrollmentRequest.from_json(request_json).node_id
        out: Path = args.out or Path(f"{node_id}-enrollment-response.json")
        # Checked before the node is admitted: once it is, the response must be written.
        if out.exists():
            return _fail("enroll", f"{out} exists; give another --out (nothing was changed)")
        done = enroll(
            args.federation,
            request_json,
            grants=args.grants,
            expect_sha256=args.request_sha256,
            valid_for=timedelta(days=args.valid_days),
        )
        request = done.request
        try:
            # Exclusive create: never overwrite another node's response by accident.
            with out.open("xb") as fh:
                fh.write(done.response.to_json())
        except OSError as exc:
            records = done.bundle_path.parent.parent / "enrollments"
            return _fail(
                "enroll",
                f"{request.node_id} was admitted (trust bundle v{done.bundle.version}) but the "
                f"response could not be written to {out}: {exc.strerror}; a copy is in "
                f"{records}",
                code=1,
            )
        checked = (
            "checked against --request-sha256"
            if args.request_sha256
            else "NOT CHECKED: compare it with the node operator's"
        )
        keys = (
            ("signing", request.signing_key),
            ("sealing", request.sealing_key),
            ("checkpoint", request.checkpoint_key),
        )
        lines = [
            f"creditlink federation enroll: admitted {request.node_id} to "
            f"{done.bundle.federation_id} in trust bundle v{done.bundle.version}",
            f"  kind, region    : {kind_name(request.kind)}, {request.region_code}"
            + (f", sector {request.sector}" if request.sector else ""),
            f"  endpoints       : {', '.join(request.endpoints)}",
            f"  log origin      : {request.log_origin}",
            f"  tls spki sha256 : {request.tls_spki_sha256.hex()}",
            *(f"  {name + ' key':<16}: {key.key_id} ({key.algorithm.name})" for name, key in keys),
            *(
                f"  {'permissions' if i == 0 else '':<16}: {text}"
                for i, text in enumerate([_grant_text(g) for g in done.grants] or ["none"])
            ),
            f"  request sha256  : {done.request_sha256} ({checked})",
            f"  response        : {out.absolute()} (send it to the node's operator)",
            f"  roots sha256    : {done.roots_sha256} (tell them over another channel)",
            f"  new bundle      : {done.bundle_path}",
            "Every other member installs the new bundle and restarts its gateway:",
            f"  creditlink federation install-bundle {done.bundle_path} --credentials DIR",
        ]
        print("\n".join(lines), flush=True)
        _warn("enroll", done.warnings)
        return 0

    return _guarded("enroll", args, body)


def _renew(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        bundle, path, warnings = renew_bundle(args.federation)
        print(
            f"creditlink federation renew: trust bundle v{bundle.version} of "
            f"{bundle.federation_id}, valid until {bundle.expires_at.isoformat()}, in {path}\n"
            "Every other member installs it and restarts its gateway:\n"
            f"  creditlink federation install-bundle {path} --credentials DIR",
            flush=True,
        )
        _warn("renew", warnings)
        return 0

    return _guarded("renew", args, body)


def _install(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        before = read_trust_bundle(args.credentials, allow_expired=True).version
        bundle = None
        for path in args.bundles:
            # Each file must be the next version of the one installed (verified under its
            # roots); update_trust_bundle refuses anything else and changes nothing then.
            bundle = update_trust_bundle(args.credentials, read_trust_bundle_envelope(path))
        assert bundle is not None  # argparse requires at least one file
        print(
            f"creditlink federation install-bundle: {args.credentials} now has trust bundle "
            f"v{bundle.version} of {bundle.federation_id} (was v{before}); restart a gateway "
            "using it to take it into use",
            flush=True,
        )
        return 0

    return _guarded("install-bundle", args, body)
