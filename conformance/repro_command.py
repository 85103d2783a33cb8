"""The repro command's format: the arguments of `python -m conformance repro IMPL --config JSON ...`.

Every check record carries one (conformance.harness.repro_command builds it). conformance.repro
runs it, and conformance.standalone reads a record's back (parse_repro) to write its standalone
script; both import the format from here, so neither imports the other.
"""

from __future__ import annotations

import argparse
import shlex

from .checks import CHECK_KINDS

__all__ = ["add_arguments", "parse_repro"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("implementation", help="a built-in name (naive, torch, ...) or package.module:NAME")
    parser.add_argument("--config", required=True, help="the config as JSON (ConvConfig.to_dict())")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--check", default="forward", choices=tuple(CHECK_KINDS),
                        help="the check kind (conformance.checks)")
    parser.add_argument("--seed", type=int, default=0, help="the data seed of the example")
    parser.add_argument("--values", default="normal", help="the value profile: normal, small_int or mixed")
    parser.add_argument("--precision", default="default", choices=("default", "highest"))
    parser.add_argument("--rule", default=None, help="check kind 'invalid': the validity rule the config breaks")
    parser.add_argument("--weight-shape", default=None, help="check kind 'invalid': the weight's shape, as JSON")
    parser.add_argument("--standalone", action="store_true",
                        help="print a self-contained script (numpy and the library only) that reproduces the "
                             "example, instead of running it (conformance.standalone); for a plugin's forward or "
                             "gradient example, a short skeleton with the inputs, expected values and bound, where "
                             "its library's call goes (conformance.skeleton)")
    parser.add_argument("--with-plugin", action="store_true",
                        help="with --standalone for a plugin: the script that imports and calls the plugin's module")


def parse_repro(command: str) -> argparse.Namespace | None:
    """The arguments of a `python -m conformance repro ...` command line (a record's repro), or None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words[:4] != ["python", "-m", "conformance", "repro"]:
        return None
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_arguments(parser)
    try:
        args, unknown = parser.parse_known_args(words[4:])
    except (argparse.ArgumentError, SystemExit):
        return None
    return None if unknown else args
