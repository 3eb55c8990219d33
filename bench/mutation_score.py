"""Mutation score per module from mutmut's results (``mutants/*.meta``), after ``make mutation``.

Equivalent mutants (no test can tell them from the original) are listed with a reason each in
``mutation-equivalent.md`` and left out of the total. A timeout counts as killed (the tests did not
pass). Exit status 1 when a module is under ``--min`` percent.

    .venv/bin/python -m bench.mutation_score [--min 95] [--survivors] [--modules a.py,b.py]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = ROOT / "mutation-equivalent.md"
#: mutmut 3's exit codes (mutmut.stats.status_by_exit_code); anything else is "suspicious"
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    2: "interrupted",
    None: "not checked",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "caught by type check",
    -11: "segfault",
    -9: "segfault",
}
DETECTED = frozenset({"killed", "timeout", "caught by type check"})
#: a list item naming a mutant: "- `routing.policy.x_decide__mutmut_12`: why"
_EQUIVALENT_RE = re.compile(r"^\s*[-*]\s+`([^`]+__mutmut_\d+)`\s*[:\u2014-]\s*(\S.*)$")


def equivalent_mutants(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """Mutant name -> reason, from the list in ``mutation-equivalent.md``; a name without a reason
    is an error (the file is the argument that the mutant cannot be killed)."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if "__mutmut_" not in line or not line.lstrip().startswith(("-", "*")):
            continue
        match = _EQUIVALENT_RE.match(line)
        if match is None:
            raise SystemExit(f"{path.name}:{number}: expected '- `mutant name`: reason', got {line!r}")
        out[match.group(1)] = match.group(2).strip()
    return out


def modules(root: Path = ROOT) -> list[str]:
    config = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def score(
    root: Path = ROOT, equivalent: dict[str, str] | None = None, only: list[str] | None = None
) -> list[dict[str, object]]:
    """One row per module of ``only_mutate`` (or of ``only``, a subset of it)."""
    equivalent = equivalent_mutants() if equivalent is None else equivalent
    configured = modules(root)
    unknown_modules = [p for p in only or () if p not in configured]
    if unknown_modules:
        raise SystemExit(f"not in [tool.mutmut] only_mutate: {', '.join(unknown_modules)}")
    rows: list[dict[str, object]] = []
    for path in only or configured:
        meta = root / "mutants" / f"{path}.meta"
        if not meta.exists():
            raise SystemExit(f"{meta.relative_to(root)} missing: run `make mutation` first")
        exit_codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
        prefix = module_name(path) + "."
        listed = {name for name in equivalent if name.startswith(prefix)}
        unknown = listed - exit_codes.keys()
        status = {name: STATUS.get(code, "suspicious") for name, code in exit_codes.items()}
        counted = {name: s for name, s in status.items() if name not in equivalent}
        by_status = Counter(counted.values())
        killed = sum(n for s, n in by_status.items() if s in DETECTED)
        total = len(counted)
        equivalent_found = listed & exit_codes.keys()
        rows.append(
            {
                "module": path,
                "mutants": len(exit_codes),
                "equivalent": len(equivalent_found),
                "equivalent_killed": sorted(n for n in equivalent_found if status[n] in DETECTED),
                "unknown_equivalent": sorted(unknown),
                "total": total,
                "killed": killed,
                "score": 100.0 * killed / total if total else 100.0,
                "by_status": dict(sorted(by_status.items())),
                "survivors": sorted(n for n, s in counted.items() if s not in DETECTED),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=0.0, help="fail when a module scores below this (%%)")
    parser.add_argument("--survivors", action="store_true", help="list the mutants not killed")
    parser.add_argument("--modules", help="comma-separated paths of only_mutate to score (default: all)")
    args = parser.parse_args(argv)
    only = [p.strip() for p in args.modules.split(",") if p.strip()] if args.modules else None
    ok = True
    print(f"{'module':<22} {'killed':>6} / {'total':<5} {'score':>7}  (equivalent left out)")
    for row in score(only=only):
        print(
            f"{row['module']:<22} {row['killed']:>6} / {row['total']:<5} {row['score']:>6.1f} %"
            f"  ({row['equivalent']} of {row['mutants']} mutants equivalent)"
        )
        others = {s: n for s, n in row["by_status"].items() if s != "killed"}  # type: ignore[attr-defined]
        if others:
            print("    " + ", ".join(f"{s}: {n}" for s, n in others.items()))
        for name in row["unknown_equivalent"]:  # type: ignore[attr-defined]
            print(f"    listed as equivalent but not a mutant of this run: {name}")
        for name in row["equivalent_killed"]:  # type: ignore[attr-defined]
            print(f"    listed as equivalent but killed (take it off the list): {name}")
        if args.survivors:
            for name in row["survivors"]:  # type: ignore[attr-defined]
                print(f"    not killed: {name}")
        if float(row["score"]) < args.min:  # type: ignore[arg-type]
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
