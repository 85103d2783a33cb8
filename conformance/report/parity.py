"""Two properties per implementation, from the records of two check kinds:

- error parity (check kind "invalid"): for each validity rule, whether the implementation refuses a
  call that breaks it, and with what message (the first seen), or accepts it; or, for a rule it
  declares it defines (conformance.definitions), whether its results match that definition;
- bitwise repeatability (check kind "determinism"): whether two identical calls gave identical bits,
  per implementation and device.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from ..definitions import DEFINED
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
        cell = seen.setdefault((record.implementation, record.rule),
                               {"refused": 0, "accepted": 0, "message": "", "defined": "", "matched": 0, "differed": 0})
        if (record.detail or "").startswith(DEFINED):
            cell["defined"] = record.detail[len(DEFINED):]
            cell["matched" if record.status == PASS else "differed"] += record.status in (PASS, MISMATCH, KNOWN)
        elif record.status == PASS:
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
            elif cell["defined"] and not cell["accepted"]:
                defined = cell["matched"] + cell["differed"]
                text = f"defined ({cell['defined']}): " + (f"differs in {cell['differed']} of {defined}" if cell["differed"]
                                                           else f"matches ({defined})")
                cells.append({"state": "mismatch" if cell["differed"] else "pass", "text": text, "n": defined})
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
