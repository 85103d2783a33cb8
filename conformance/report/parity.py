"""Two properties per implementation, from the records of two check kinds:

- error parity (check kind "invalid"): for each validity rule, whether the implementation refuses a
  call that breaks it, and with what message (the first seen), or accepts it;
- bitwise repeatability (check kind "determinism"): whether two identical calls gave identical bits,
  per implementation and device.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from ..records import CheckRecord
from ..vocabulary import KNOWN, MISMATCH, PASS

__all__ = ["error_parity", "repeatability"]


def error_parity(checks: Iterable[CheckRecord]) -> dict[str, Any]:
    """{"rules": [rule...], "rows": [{"implementation", "cells": [{"state", "text", "n"}]}]}."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    rules: set[str] = set()
    for record in checks:
        if record.check != "invalid_call" or not record.rule or record.phase not in ("generate", "final"):
            continue
        rules.add(record.rule)
        cell = seen.setdefault((record.implementation, record.rule), {"refused": 0, "accepted": 0, "message": ""})
        if record.status == PASS:
            cell["refused"] += 1
            cell["message"] = cell["message"] or record.message
        elif record.status in (MISMATCH, KNOWN):
            cell["accepted"] += 1
    ordered = sorted(rules)
    rows = []
    for impl in sorted({impl for impl, _ in seen}):
        cells = []
        for rule in ordered:
            cell = seen.get((impl, rule))
            if cell is None:
                cells.append({"state": "empty", "text": "not drawn", "n": 0})
            elif cell["accepted"]:
                cells.append({"state": "mismatch", "text": f"accepts ({cell['accepted']} of "
                                                       f"{cell['accepted'] + cell['refused']})", "n": cell["accepted"]})
            else:
                cells.append({"state": "pass", "text": cell["message"][:160], "n": cell["refused"]})
        rows.append({"implementation": impl, "cells": cells})
    return {"rules": ordered, "rows": rows}


def repeatability(checks: Iterable[CheckRecord]) -> list[dict[str, Any]]:
    """[{"implementation", "device", "repeatable": bool, "examples": n, "differed": n}] from determinism records."""
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for record in checks:
        if record.check != "determinism" or record.phase not in ("generate", "final"):
            continue
        counts = tally[(record.implementation, record.device)]
        counts[0] += 1
        if record.status in (MISMATCH, KNOWN):
            counts[1] += 1
    return [{"implementation": impl, "device": device, "examples": n, "differed": bad, "repeatable": bad == 0}
            for (impl, device), (n, bad) in sorted(tally.items())]
