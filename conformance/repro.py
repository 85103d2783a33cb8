"""`python -m conformance repro IMPL --config JSON ...`: re-run one example in a fresh process.

Runs the implementation in this process (no worker), so a crash shows as the crash itself, and
prints the verdict of each check with its statistics. Exit status: 0 pass, 1 finding, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

from .checks import CHECK_KINDS

# Re-exported: the command's format lives in conformance.repro_command.
from .repro_command import add_arguments, parse_repro

__all__ = ["add_arguments", "parse_repro", "run"]


def run(args: argparse.Namespace) -> int:
    from .config import ConvConfig, InvalidConfig
    from .harness import Harness, Target
    from .registry import BUILTIN, ImplementationLoadError
    from .strategies import VALUE_PROFILES, ConvCase, InvalidCase

    invalid = CHECK_KINDS[args.check].raising_passes
    try:
        config = ConvConfig.from_json(args.config) if not invalid else ConvConfig.unchecked(**json.loads(args.config))
    except (InvalidConfig, TypeError, ValueError) as err:
        print(f"repro: invalid --config: {err}", file=sys.stderr)
        return 2
    if not 0 <= args.seed < 2**32:  # the range the strategies draw data seeds from
        print(f"repro: --seed {args.seed} must be between 0 and 2**32 - 1 (copy it from the record's repro)",
              file=sys.stderr)
        return 2
    if args.values not in VALUE_PROFILES:
        print(f"repro: --values {args.values!r} is not one of {', '.join(VALUE_PROFILES)}", file=sys.stderr)
        return 2
    harness = Harness(writer=None, run_id="repro", isolation="none", precision=args.precision)
    try:
        impl = harness.implementation(args.implementation)
    except ImplementationLoadError as err:
        print(f"repro: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        print(f"repro: cannot load {args.implementation!r}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    name = impl.name if args.implementation not in BUILTIN else args.implementation
    if args.standalone:
        return _print_standalone(args, config, impl)
    target = Target(config.op_name, name, args.device, args.implementation)
    if invalid:
        weight_shape = tuple(json.loads(args.weight_shape)) if args.weight_shape else config.weight_shape
        case = InvalidCase(config, args.rule or "?", weight_shape, args.seed, args.values)
    else:
        case = ConvCase(config, args.seed, args.values)
    print(f"{name} {config} on {args.device} [data seed {args.seed}, {args.values} values]")
    outcome = harness.check(target, args.check, case, test_id="repro")
    for record in outcome.records:
        stats = record.stats or {}
        line = f"  {record.check}: {record.status}"
        if record.kind:
            line += f" ({record.kind})"
        if stats.get("max_error_in_bounds") is not None:
            line += f", max error {stats['max_error_in_bounds']:.3g} x bound, max abs error {stats['max_abs_error']:.3g}"
        print(line)
    if outcome.message:
        print(outcome.message)
    return 1 if outcome.failed else 0


def _print_standalone(args: argparse.Namespace, config, impl) -> int:
    from .checks import CHECK_KINDS
    from .standalone import standalone_script

    kind = CHECK_KINDS[args.check]
    arithmetic = None if kind.judge else impl.arithmetic(config, args.device)
    weight_shape = tuple(json.loads(args.weight_shape)) if args.weight_shape else None
    script = standalone_script(args.implementation, config, args.check, device=args.device, seed=args.seed,
                               values=args.values, precision=args.precision, arithmetic=arithmetic,
                               rule=args.rule, weight_shape=weight_shape,
                               plugin_call=getattr(args, "with_plugin", False))
    print(script.text, end="")
    if script.unsupported:
        print(f"repro: {script.unsupported} (the script says so and exits 2)", file=sys.stderr)
    return 0
