"""Which of the peers' own test calls (benchmarks/data/peer_conv_cases.json) conv_configs can draw,
under the default bounds and under the nightly's (conformance.bounds).

    python benchmarks/peer_reach.py             # the share per peer, default vs nightly, and why the rest is out
    python benchmarks/peer_reach.py --json      # the same as JSON

A case is drawable when it lies inside every bound of the profile's outer box (conformance.bounds.outside):
kernel, stride, dilation, padding, channels and groups, batch, input size within the smallest valid
size plus the slack, and the MAC and element budget. The corpus's inexpressible calls (no ConvConfig
form) are counted apart and are in no share.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.bounds import DEFAULT_BOUNDS, NIGHTLY_BOUNDS, DrawBounds, outside  # noqa: E402
from conformance.config import ConvConfig  # noqa: E402

__all__ = ["CORPUS", "PeerCase", "Reach", "load_cases", "reach"]

CORPUS = Path(__file__).resolve().parent / "data" / "peer_conv_cases.json"


@dataclass(frozen=True)
class PeerCase:
    """One call of a peer's tests: which peer, which source file and test, and the call."""

    peer: str
    source: str
    test: str
    config: ConvConfig


@dataclass(frozen=True)
class Reach:
    """How many of a peer's cases a DrawBounds can draw, and the first bound each of the others breaks."""

    peer: str
    drawable: int
    total: int
    reasons: Counter

    @property
    def share(self) -> float:
        return self.drawable / self.total if self.total else 0.0


def load_cases(path: Path = CORPUS) -> list[PeerCase]:
    data = json.loads(Path(path).read_text())
    return [PeerCase(c["peer"], c["source"], c["test"], ConvConfig.from_dict(c["config"])) for c in data["cases"]]


def reach(cases: list[PeerCase], bounds: DrawBounds) -> dict[str, Reach]:
    """Per peer, and "all" for the pooled cases: the drawable count under `bounds`."""
    groups: dict[str, list[PeerCase]] = {}
    for case in cases:
        groups.setdefault(case.peer, []).append(case)
    groups["all"] = list(cases)
    result = {}
    for peer, members in groups.items():
        reasons = Counter()
        drawable = 0
        for case in members:
            why = outside(case.config, bounds)
            if why is None:
                drawable += 1
            else:
                reasons[why.split("=")[0].split("[")[0]] += 1  # the bound's name: "in_size[0] - ..." -> "in_size"
        result[peer] = Reach(peer, drawable, len(members), reasons)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    cases = load_cases()
    table = {name: reach(cases, bounds) for name, bounds in (("default", DEFAULT_BOUNDS), ("nightly", NIGHTLY_BOUNDS))}
    if args.json:
        print(json.dumps({name: {peer: {"drawable": r.drawable, "total": r.total, "outside": dict(r.reasons)}
                                 for peer, r in rows.items()} for name, rows in table.items()}, indent=1))
        return 0
    print(f"{'peer':<12}{'cases':>7}{'default':>16}{'nightly':>16}   first bound broken under the nightly bounds")
    for peer in table["default"]:
        d, n = table["default"][peer], table["nightly"][peer]
        out = ", ".join(f"{k} {v}" for k, v in n.reasons.most_common())
        print(f"{peer:<12}{d.total:>7}{d.drawable:>7} ({d.share:>5.0%}){n.drawable:>7} ({n.share:>5.0%})   {out or '-'}")
    print("\nunder the default bounds: " + ", ".join(f"{k} {v}" for k, v in table["default"]["all"].reasons.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
