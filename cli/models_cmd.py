"""`rca models list|show|promote|rollback|archive|compare|export|load`: the model registry.

Also the shared MLflow flags of `rca train`, `rca analyze` and `rca worker`
(``add_mlflow_flags`` / ``mlflow_enabled``): tracking is on by default.
"""
from __future__ import annotations

import argparse
import json

from cli.output import out as _out

HELP = "the model registry: list, show, promote, rollback, archive, compare, export, load"
DESCRIPTION = (
    "Versions of the registered model (RCA_MLFLOW_REGISTERED_MODEL_NAME). Aliases 'production' and 'challenger' "
    "are the mechanism; MLflow stages are deprecated, so --stage Production maps to the alias production, "
    "--stage Staging to challenger and --stage Archived to archive. A version is a number (3 or v3), an alias "
    "or 'latest'. Every load and export verifies the bundle's sha256 and HMAC signature before anything is "
    "unpickled."
)


def add_mlflow_flags(parser: argparse.ArgumentParser) -> None:
    """--disable-mlflow / --enable-mlflow for a command that tracks runs."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--disable-mlflow", action="store_true",
                   help="do not track this run in MLflow (tracking is on by default; RCA_MLFLOW_AUTO_LOG)")
    g.add_argument("--enable-mlflow", action="store_true",
                   help="track this run in MLflow (redundant: the default)")


def mlflow_enabled(args: argparse.Namespace) -> bool:
    from tracking.api import mlflow_enabled as resolve

    return resolve(getattr(args, "disable_mlflow", False), getattr(args, "enable_mlflow", False))


def _version_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("ref", nargs="?", metavar="VERSION",
                   help="version number, alias (production, challenger) or 'latest'")
    p.add_argument("--version", dest="version_opt", metavar="N", help="same as VERSION")
    p.set_defaults(_version_required=required)


def add_models(sub) -> None:
    p = sub.add_parser("models", help=HELP, description=DESCRIPTION)
    p.add_argument("--name", default=None, help="registered model name (default RCA_MLFLOW_REGISTERED_MODEL_NAME)")
    acts = p.add_subparsers(dest="models_action", required=True, metavar="ACTION")

    a = acts.add_parser("list", help="all versions with aliases, run names and sources")
    a.add_argument("--active", action="store_true", help="hide archived versions")
    a.add_argument("--json", action="store_true", help="JSON instead of a table")
    a.set_defaults(func=cmd_list)

    a = acts.add_parser("show", help="one version: run, source, aliases, manifest",
                        description="Show a version (default production) and its manifest.")
    _version_arg(a, required=False)
    a.add_argument("--json", action="store_true", help="JSON output")
    a.set_defaults(func=cmd_show)

    a = acts.add_parser("promote", help="point an alias (default production) at a version",
                        description="Point an alias at a version. --stage Production|Staging|Archived is accepted "
                                    "and maps to the alias production|challenger or to archive.")
    _version_arg(a)
    a.add_argument("--alias", default=None, help="production (default) or challenger")
    a.add_argument("--stage", default=None, help="deprecated MLflow stage name, mapped to an alias")
    a.set_defaults(func=cmd_promote)

    a = acts.add_parser("rollback", help="move production back to the version that held it before")
    a.set_defaults(func=cmd_rollback)

    a = acts.add_parser("archive", help="mark a version archived and remove its aliases (not production)")
    _version_arg(a)
    a.set_defaults(func=cmd_archive)

    a = acts.add_parser("compare", help="two versions' metrics side by side",
                        description="Compare the metrics of two versions (e.g. `rca models compare production "
                                    "challenger` or `rca models compare 2 3`).")
    a.add_argument("a", metavar="VERSION_A")
    a.add_argument("b", metavar="VERSION_B")
    a.add_argument("--json", action="store_true", help="JSON output")
    a.set_defaults(func=cmd_compare)

    a = acts.add_parser("export", help="write a verified bundle (model.pkl + manifest.json) to a folder")
    _version_arg(a, required=False)
    a.add_argument("--output", "-o", required=True, metavar="PATH", help="folder to write into")
    a.add_argument("--force", action="store_true", help="overwrite an existing model.pkl")
    a.set_defaults(func=cmd_export)

    a = acts.add_parser("load", help="verify and load a version (default production); print its summary",
                        description="Fetch, verify (sha256 + HMAC) and unpickle a version, as the worker does.")
    _version_arg(a, required=False)
    a.add_argument("--json", action="store_true", help="JSON output")
    a.set_defaults(func=cmd_load)


def _registry(args):
    from tracking.registry import Registry

    return Registry(name=args.name)


def _ref(args) -> str:
    pos, opt = getattr(args, "ref", None), getattr(args, "version_opt", None)
    if pos is not None and opt is not None and pos != opt:
        raise ValueError(f"two versions given ({pos} and --version {opt})")
    ref = opt if opt is not None else pos
    if ref is None:
        if getattr(args, "_version_required", False):
            raise ValueError(f"`rca models {args.models_action}` needs a VERSION (or --version N)")
        return "production"
    return ref


def _row(info) -> str:
    aliases = ",".join(info.aliases) or ("archived" if info.archived else "-")
    return f"{info.version:>7}  {aliases:<22}  {info.created:<25}  {info.run_name or '-':<40}  {info.source}"


def cmd_list(args) -> int:
    infos = _registry(args).list(include_archived=not args.active)
    if args.json:
        _out(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    _out(f"{'VERSION':>7}  {'ALIASES':<22}  {'CREATED':<25}  {'RUN':<40}  SOURCE")
    for info in infos:
        _out(_row(info))
    _out(f"{len(infos)} versions")
    return 0


def cmd_show(args) -> int:
    reg = _registry(args)
    info = reg.get(_ref(args))
    try:
        manifest = reg.manifest(info.version)
    except RuntimeError as exc:      # e.g. manifest.json missing: still show the version
        manifest = {"error": str(exc)}
    if args.json:
        _out(json.dumps({**info.as_dict(), "manifest": manifest}, indent=2, default=str))
        return 0
    _out(f"{reg.name} version {info.version}")
    for k, v in info.as_dict().items():
        if k not in ("version", "tags"):
            _out(f"  {k:<12} {', '.join(v) if isinstance(v, list) else v}")
    _out(f"  {'signed':<12} {'yes' if manifest.get('signature') else 'NO'}")
    for k in ("sha256", "size", "template_count", "created_at"):
        _out(f"  {k:<12} {manifest.get(k)}")
    for k, v in sorted((manifest.get("metrics") or {}).items()):
        _out(f"  metric       {k} = {v:g}")
    return 0


def cmd_promote(args) -> int:
    from tracking.registry import alias_for

    target = alias_for(args.alias, args.stage)
    info = _registry(args).promote(_ref(args), alias=target)
    if target == "archived":
        _out(f"version {info.version} archived")
    else:
        _out(f"version {info.version} is now {target}" + (f" (from --stage {args.stage})" if args.stage else ""))
    return 0


def cmd_rollback(args) -> int:
    old, new = _registry(args).rollback()
    _out(f"production rolled back from version {old.version} to version {new.version}")
    return 0


def cmd_archive(args) -> int:
    info = _registry(args).archive(_ref(args))
    _out(f"version {info.version} archived")
    return 0


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.6g}"


def _label(info) -> str:
    return f"v{info.version}" + (f" ({','.join(info.aliases)})" if info.aliases else "")


def cmd_compare(args) -> int:
    ia, ib, rows = _registry(args).compare(args.a, args.b)
    if args.json:
        _out(json.dumps({"a": ia.as_dict(), "b": ib.as_dict(),
                         "metrics": {k: {"a": a, "b": b} for k, a, b in rows}}, indent=2))
        return 0
    la, lb = _label(ia), _label(ib)
    width = max([len("metric")] + [len(k) for k, _, _ in rows])
    _out(f"{'metric':<{width}}  {la:>20}  {lb:>20}  {'delta':>12}")
    for k, a, b in rows:
        delta = _fmt(b - a) if a is not None and b is not None else "-"
        _out(f"{k:<{width}}  {_fmt(a):>20}  {_fmt(b):>20}  {delta:>12}")
    return 0


def cmd_export(args) -> int:
    out = _registry(args).export(_ref(args), args.output, force=args.force)
    _out(f"exported verified model.pkl and manifest.json to {out}")
    return 0


def cmd_load(args) -> int:
    bundle, info, manifest = _registry(args).load(_ref(args))
    summary = {"version": info.version, "aliases": list(info.aliases), "source": info.source,
               "sha256": manifest.get("sha256"), "signed": bool(manifest.get("signature")), **bundle.summary()}
    if args.json:
        _out(json.dumps(summary, indent=2, default=str))
    else:
        _out(f"loaded and verified version {info.version} ({'signed' if summary['signed'] else 'UNSIGNED'}, "
             f"sha256 {str(summary['sha256'])[:12]}) from {info.source}")
        for k, v in bundle.summary().items():
            _out(f"  {k}: {v}")
    return 0


__all__ = ["add_models", "add_mlflow_flags", "mlflow_enabled"]
