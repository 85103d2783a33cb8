"""`python -m conformance <subcommand>`: tools around a conformance run.

    python -m conformance report reports/results.jsonl -o reports/conformance.html

Each subcommand is a pair of functions in SUBCOMMANDS: one adds its arguments to an argparse
subparser, one runs it and returns the exit status. Bad input is one line on stderr and exit 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from . import audit, repro

__all__ = ["SUBCOMMANDS", "main"]

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line on stderr, exit status 2."""


# ---- report ---------------------------------------------------------------------------------------


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("With --baseline, the page starts with the night-to-night diff (new failures, fixed, still "
                     "failing, not run tonight), stdout lists it, and the exit status is 1 when there are new "
                     "failures, else 0. Exit status 2: bad input.")
    parser.add_argument("results", nargs="+", metavar="RESULTS.jsonl",
                        help="results files to merge (results.jsonl and any results-*.jsonl of xdist workers)")
    parser.add_argument("-o", "--output", default="reports/conformance.html", metavar="OUT.html",
                        help="the page to write (default: %(default)s)")
    parser.add_argument("--title", default=None, help="page title")
    parser.add_argument("--baseline", nargs="+", action="extend", default=None, metavar="OLD.jsonl",
                        help="an earlier run's results files (e.g. last night's) to diff against; exit status 1 "
                             "when tonight fails where the baseline did not")


def run_report(args: argparse.Namespace) -> int:
    from .report.render import ReportInputError, render_report

    diff = None
    try:
        if args.baseline:
            from .report.diff import write_report_with_diff

            summary, diff = write_report_with_diff(args.results, args.baseline, args.output, title=args.title)
        else:
            summary = render_report(args.results, args.output, title=args.title)
    except ReportInputError as err:
        raise UsageError(str(err)) from None
    except OSError as err:  # the output cannot be written
        raise UsageError(f"cannot write {args.output}: {err.strerror or err}") from None
    print(summary.line())
    print(f"verdict: {summary.verdict_text}")
    if summary.breakdown:
        print(f"besides what passed: {summary.breakdown}")
    if diff is None:
        return 0
    for line in diff.lines():
        print(line)
    return diff.exit_status


# ---- subcommand table -------------------------------------------------------------------------------
# To add a subcommand (e.g. `repro`), write add_<name>_arguments(parser) and run_<name>(args) -> int
# above, then add one line here. Raise UsageError for bad input.

SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "report": ("render results.jsonl files into one self-contained HTML page", add_report_arguments, run_report),
    "repro": ("re-run one recorded config in this process and print each check's verdict",
              repro.add_arguments, repro.run),
    "audit": ("draw calls inside each known entry's region and say how many reproduce it, pass, or differ",
              audit.add_arguments, audit.run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    subparsers.required = True
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse exits 2 with its own one-line usage error
    try:
        return args.run(args)
    except UsageError as err:
        print(f"python -m conformance {args.subcommand}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
