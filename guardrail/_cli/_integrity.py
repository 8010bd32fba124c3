"""CLI commands for delegation integrity: `narrower`, `keygen`, `sign`, `verify`, `render`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from .._errors import ManifestError
from .._manifest._models import Manifest

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNPROVABLE = 4


def _print_error(exc: BaseException) -> None:
    print(f"error: {exc}", file=sys.stderr)


# -- narrower ----------------------------------------------------------------------------------


def _cmd_narrower(ns: argparse.Namespace) -> int:
    from .._narrowing import narrower

    try:
        child = Manifest.from_file(ns.child)
        parent = Manifest.from_file(ns.parent)
    except ManifestError as exc:
        _print_error(exc)
        return EXIT_USAGE
    report = narrower(child, parent, budgets=not ns.no_budgets, expiry=not ns.no_expiry)
    if ns.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        print(report.format(child_name=ns.child, parent_name=ns.parent, show_ok=not ns.quiet))
    return report.exit_code


# -- keys and signatures -----------------------------------------------------------------------


def _cmd_keygen(ns: argparse.Namespace) -> int:
    from .._signing._files import write_keypair

    try:
        private_path, public_path, kid = write_keypair(ns.out, force=ns.force)
    except (FileExistsError, OSError) as exc:
        _print_error(exc)
        return EXIT_FAILED
    print(f"private key: {private_path} (keep it secret; mode 0600)")
    print(f"public key:  {public_path}")
    print(f"key id:      {kid}")
    return EXIT_OK


def _cmd_sign(ns: argparse.Namespace) -> int:
    from .._manifest import key_id
    from .._signing._files import load_private_key, sign_file

    try:
        key = load_private_key(ns.key)
        written = sign_file(ns.file, key, out=ns.output)
        manifest = Manifest.from_file(written)
    except (ManifestError, OSError) as exc:
        _print_error(exc)
        return EXIT_FAILED
    print(f"signed {written} (task {manifest.task}, {manifest.digest}, key {key_id(key)})")
    if manifest.ttl is not None and "issued_at" not in manifest.model_fields_set:
        print(
            "note: this manifest has a ttl but no issued_at, so its ttl counts from each load: "
            "anyone holding the file can load it again later. Add issued_at or expires_at to "
            "bound it in time.",
            file=sys.stderr,
        )
    return EXIT_OK


def _cmd_verify(ns: argparse.Namespace) -> int:
    from .._manifest import verify_manifest

    try:
        manifest = Manifest.from_file(ns.file)
        kid = verify_manifest(manifest, ns.pub)
    except ManifestError as exc:
        print(f"{ns.file}: NOT VERIFIED", file=sys.stdout)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stdout)
        return EXIT_FAILED
    print(f"{ns.file}: verified (task {manifest.task}, signed by {kid}, {manifest.digest})")
    return EXIT_OK


# -- templates ---------------------------------------------------------------------------------


def _cmd_render(ns: argparse.Namespace) -> int:
    from .._manifest._templates import coerce_param, declared_params, load_template, render_data

    try:
        data, lines, source = load_template(ns.template)
        specs = declared_params(data, source)
        params: dict[str, Any] = {}
        for item in ns.param or []:
            name, sep, text = item.partition("=")
            if not sep:
                raise ManifestError(f"--param {item!r}: write name=value")
            if name in params:
                raise ManifestError(f"--param {name!r} is given twice")
            spec = specs.get(name)
            params[name] = coerce_param(spec, name, text) if spec is not None else text
        rendered = render_data(data, task=ns.task, params=params, source=source)
        Manifest.model_validate(rendered, _lines=lines, _source=source)
    except ManifestError as exc:
        _print_error(exc)
        return EXIT_FAILED
    if ns.format == "json":
        print(json.dumps(rendered, indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(rendered, sort_keys=False, allow_unicode=True,
                             default_flow_style=False), end="")
    return EXIT_OK


# -- registration ------------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add this module's commands to the `guardrail` parser's subparsers."""
    p = sub.add_parser(
        "narrower",
        help="is every call CHILD allows allowed by PARENT? (exit 0 yes, 1 no, 4 unprovable)",
        description="Static check, constraint by constraint, that CHILD only narrows PARENT. "
                    "Exit 0: narrower; 1: not narrower (with a counterexample per finding); "
                    "4: some parts could not be proven either way; 2: a file is invalid.",
    )
    p.add_argument("child", metavar="CHILD")
    p.add_argument("parent", metavar="PARENT")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="show only the problems")
    p.add_argument("--no-budgets", action="store_true", help="do not compare budgets")
    p.add_argument("--no-expiry", action="store_true", help="do not compare validity windows")
    p.set_defaults(func=_cmd_narrower)

    p = sub.add_parser("keygen", help="write an Ed25519 key pair for signing manifests")
    p.add_argument("--out", default="guardrail", metavar="PREFIX",
                   help="write PREFIX.key (private) and PREFIX.pub (default: guardrail)")
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser("sign", help="add a signature block to a manifest file")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--key", required=True, metavar="KEY", help="the private key PEM file")
    p.add_argument("-o", "--output", metavar="OUT", help="write here instead of in place")
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser("verify", help="verify a signed manifest (exit 0 verified, 1 not)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--pub", required=True, action="append", metavar="PUB",
                   help="a trusted public key PEM file (repeat for several: key rotation)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("render", help="instantiate a manifest template for one task")
    p.add_argument("template", metavar="TEMPLATE")
    p.add_argument("--task", required=True, metavar="TASK", help="the task id")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a template parameter (repeat for each)")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml")
    p.set_defaults(func=_cmd_render)
