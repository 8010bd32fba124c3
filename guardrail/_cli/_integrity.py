"""CLI commands for delegation integrity: `narrower`, `keygen`, `sign`, `verify`, `render`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from .._errors import ManifestError
from .._exit import ExitCode
from .._manifest._models import Manifest
from ._common import CommandError, problems_text, trusted_keys


def _manifest(path: str | Path, role: str = "") -> Manifest:
    """The manifest at `path`, or a CommandError naming it (and its role: child, parent)."""
    try:
        return Manifest.from_file(path)
    except ManifestError as exc:
        raise CommandError(f"{role}{exc.source or path}: invalid manifest: "
                           f"{problems_text(exc.problems)}") from None


# -- narrower ----------------------------------------------------------------------------------


def _cmd_narrower(ns: argparse.Namespace) -> int:
    from .._narrowing import narrower

    child = _manifest(ns.child, "CHILD ")
    parent = _manifest(ns.parent, "PARENT ")
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
    except FileExistsError as exc:
        raise CommandError(f"{exc} (--force overwrites it)") from None
    except OSError as exc:
        raise CommandError(f"cannot write the key files: {exc.filename or ns.out}: "
                           f"{exc.strerror or exc}") from None
    print(f"private key: {private_path} (keep it secret; mode 0600)")
    print(f"public key:  {public_path}")
    print(f"key id:      {kid}")
    return ExitCode.OK


def _cmd_sign(ns: argparse.Namespace) -> int:
    from .._manifest import key_id
    from .._signing._files import load_private_key, sign_file

    try:
        key = load_private_key(ns.key)
    except ManifestError as exc:
        raise CommandError(f"key file: {problems_text(exc.problems)}") from None
    _manifest(ns.file)  # a manifest with problems is named as such, before anything is written
    try:
        written = sign_file(ns.file, key, out=ns.output)
    except ManifestError as exc:
        raise CommandError(f"{ns.file}: {problems_text(exc.problems)}") from None
    except OSError as exc:
        raise CommandError(f"cannot write {exc.filename or ns.output or ns.file}: "
                           f"{exc.strerror or exc}") from None
    manifest = _manifest(written)
    print(f"signed {written} (task {manifest.task}, {manifest.digest}, key {key_id(key)})")
    if manifest.ttl is not None and "issued_at" not in manifest.model_fields_set:
        print(
            "note: this manifest has a ttl but no issued_at, so its ttl counts from each load: "
            "anyone holding the file can load it again later. Add issued_at or expires_at to "
            "bound it in time.",
            file=sys.stderr,
        )
    return ExitCode.OK


def _cmd_verify(ns: argparse.Namespace) -> int:
    from .._manifest import verify_manifest

    keys = trusted_keys(ns.pub, "--pub")
    try:
        manifest = Manifest.from_file(ns.file)
        kid = verify_manifest(manifest, keys)
    except ManifestError as exc:
        print(f"{ns.file}: NOT VERIFIED")
        for problem in exc.problems:
            print(f"  - {problem}")
        return ExitCode.FAILED
    print(f"{ns.file}: verified (task {manifest.task}, signed by {kid}, {manifest.digest})")
    return ExitCode.OK


# -- templates ---------------------------------------------------------------------------------


def _cmd_render(ns: argparse.Namespace) -> int:
    from .._manifest._templates import coerce_param, declared_params, load_template, render_data

    try:
        data, lines, source = load_template(ns.template)
        specs = declared_params(data, source)
    except ManifestError as exc:
        raise CommandError(f"{ns.template}: invalid template: {problems_text(exc.problems)}") from None
    params: dict[str, Any] = {}
    for item in ns.param or []:
        name, sep, text = item.partition("=")
        if not sep:
            raise CommandError(f"--param {item!r}: write name=value")
        if name in params:
            raise CommandError(f"--param {name!r} is given twice")
        spec = specs.get(name)
        try:
            params[name] = coerce_param(spec, name, text) if spec is not None else text
        except ManifestError as exc:
            raise CommandError(f"--param: {problems_text(exc.problems)}") from None
    try:
        rendered = render_data(data, task=ns.task, params=params, source=source)
    except ManifestError as exc:
        raise CommandError(f"{source}: cannot render the template: {problems_text(exc.problems)}") from None
    try:
        Manifest.model_validate(rendered, _lines=lines, _source=source)
    except ManifestError as exc:
        raise CommandError(f"{source}: the rendered manifest is invalid: "
                           f"{problems_text(exc.problems)}") from None
    if ns.format == "json":
        print(json.dumps(rendered, indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(rendered, sort_keys=False, allow_unicode=True,
                             default_flow_style=False), end="")
    return ExitCode.OK


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
    p.add_argument("child", metavar="CHILD", help="the delegated (child) manifest")
    p.add_argument("parent", metavar="PARENT", help="the manifest it was delegated from")
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
    p.add_argument("file", metavar="FILE", help="the manifest to sign (YAML or JSON)")
    p.add_argument("--key", required=True, metavar="KEY", help="the private key PEM file")
    p.add_argument("-o", "--output", metavar="OUT", help="write here instead of in place")
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser("verify", help="verify a signed manifest (exit 0 verified, 1 not)")
    p.add_argument("file", metavar="FILE", help="the signed manifest")
    p.add_argument("--pub", required=True, action="append", metavar="PUB",
                   help="a trusted public key PEM file (repeat for several: key rotation)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("render", help="instantiate a manifest template for one task")
    p.add_argument("template", metavar="TEMPLATE", help="the template file (a manifest with params:)")
    p.add_argument("--task", required=True, metavar="TASK", help="the task id")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a template parameter (repeat for each)")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml",
                   help="the output format (default: yaml)")
    p.set_defaults(func=_cmd_render)
