"""`rca incidents confirm|reject|missed`: an operator's verdict on an incident, to rca.feedback.

    rca incidents confirm inc-... --cause nova.compute.manager    # the cause: a candidate, or another module
    rca incidents reject inc-... --note "planned maintenance"      # a false alarm
    rca incidents missed --from 2026-12-05T14:02:00Z --to 2026-12-05T14:10:00Z --host compute-3 [--cause libvirtd]

The verdict carries the records a retrain learns from (consumers/feedback.py) and is signed like
a control command when RCA_CONTROL_SECRET is set. Unknown ids or causes are one-line errors.
"""
from __future__ import annotations

import json

from cli.output import out
from config.settings import get_settings


def add_verdict_commands(incidents) -> None:
    """Register the verdict subcommands under `rca incidents` (which still lists incidents without one)."""
    sub = incidents.add_subparsers(dest="verdict_command", metavar="[confirm|reject|missed]")
    common = {"by": dict(default=None, help="who gives the verdict (default: the user name)"),
              "note": dict(default=None, help="a free-text note kept with the verdict")}

    confirm = sub.add_parser("confirm", help="the incident was real, and this caused it")
    confirm.add_argument("incident_id")
    confirm.add_argument("--cause", required=True,
                         help="one of the incident's candidates, or another module (nova.compute.manager) or "
                              "component (libvirtd, rabbitmq)")
    reject = sub.add_parser("reject", help="the incident was a false alarm")
    reject.add_argument("incident_id")
    missed = sub.add_parser("missed", help="a fault the service raised no incident for")
    missed.add_argument("--from", dest="start", required=True, help="when it began (ISO 8601, or 2h for 2 hours ago)")
    missed.add_argument("--to", dest="end", required=True, help="when it ended")
    missed.add_argument("--host", default=None)
    missed.add_argument("--service", default=None, help="e.g. nova-compute")
    missed.add_argument("--cause", default=None, help="the faulty module or component, when known")
    missed.add_argument("--search-since", default=None,
                        help="read the logs topic from this time on (broker time; default an hour before --from)")
    for p in (confirm, reject, missed):
        for name, kw in common.items():
            p.add_argument(f"--{name}", **kw)
        p.add_argument("--json", action="store_true", help="print the verdict sent (without its records)")
        p.set_defaults(func=cmd_verdict, verdict=p.prog.rsplit(" ", 1)[-1])


def cmd_verdict(args) -> int:
    from config.timeparse import parse_time
    from consumers.feedback import prepare, publish_verdict

    settings = get_settings()
    kind = args.verdict
    kwargs = {"by": args.by, "note": args.note}
    if kind == "missed":
        kwargs.update(start=parse_time(args.start), end=parse_time(args.end), host=args.host, service=args.service,
                      cause=args.cause,
                      search_since=parse_time(args.search_since) if args.search_since else None)
    else:
        kwargs.update(incident_id=args.incident_id, cause=getattr(args, "cause", None))
    sent = publish_verdict(settings, prepare(settings, kind, **kwargs))
    shown = {k: v for k, v in sent.items() if k not in ("evidence", "signature")}
    if args.json:
        out(json.dumps(shown))
    else:
        what = {"confirm": f"confirmed, cause {sent.get('cause')}", "reject": "rejected as a false alarm",
                "missed": "reported as missed" + (f", cause {sent['cause']}" if sent.get("cause") else "")}[kind]
        out(f"{sent['incident_id']}: {what} ({len(sent.get('evidence') or [])} records kept, "
            f"verdict {sent['verdict_id']}{', signed' if 'signature' in sent else ''})")
    return 0


def verdict_label(verdict: dict | None) -> str:
    """A verdict in a table cell: '-', 'confirmed: nova.compute.manager', 'false alarm'."""
    if not verdict:
        return "-"
    if verdict["verdict"] == "confirm":
        return f"confirmed: {verdict.get('cause')}"
    return "false alarm" if verdict["verdict"] == "reject" else "missed"
