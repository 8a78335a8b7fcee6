#!/usr/bin/env python3
"""Checks the shape of the Rust crate, as CI does (.ci/run):

- no source file in src/ longer than MAX_LINES lines (one concept, read in one sitting);
- no import circle among the library's top-level modules (src/X.rs or src/X/), judged
  from every `crate::X` path in each module's files;
- every module's file opens with a comment that says what it owns.

    python3 scripts/check_structure.py          # prints the module graph's problems, exits 1 on any
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

MAX_LINES = 400
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src"


def binary_modules() -> set[str]:
    """The modules that main.rs declares: they belong to the binary, not the library."""
    return set(re.findall(r"^mod (\w+);", (SRC / "main.rs").read_text(), re.M)) | {"main"}


def library_modules() -> dict[str, list[Path]]:
    """Top-level library module -> its files."""
    skip = binary_modules() | {"lib"}
    modules: dict[str, list[Path]] = {}
    for path in sorted(SRC.rglob("*.rs")):
        top = path.relative_to(SRC).parts[0].removesuffix(".rs")
        if top not in skip:
            modules.setdefault(top, []).append(path)
    return modules


def dependencies(modules: dict[str, list[Path]]) -> dict[str, set[str]]:
    deps = {}
    for name, files in modules.items():
        text = "\n".join(f.read_text() for f in files)
        used = set(re.findall(r"crate::(\w+)", text))
        # `use crate::{a, b::c}` names several modules at once.
        for group in re.findall(r"crate::\{([^}]*)\}", text):
            used |= {part.strip().split("::")[0] for part in group.split(",") if part.strip()}
        deps[name] = {m for m in used if m in modules and m != name}
    return deps


def find_cycle(deps: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for d in sorted(deps[m]):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state and (cycle := visit(d)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(deps):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def main() -> int:
    problems = []
    for path in sorted(SRC.rglob("*.rs")):
        lines = path.read_text().splitlines()
        if len(lines) > MAX_LINES:
            problems.append(f"{path.relative_to(SRC.parent)}: {len(lines)} lines (at most {MAX_LINES})")
        if not lines or not lines[0].startswith("//"):
            problems.append(f"{path.relative_to(SRC.parent)}: no opening comment saying what it owns")
    deps = dependencies(library_modules())
    cycle = find_cycle(deps)
    if cycle:
        problems.append("import circle: " + " -> ".join(cycle))
    for p in problems:
        print(p)
    print(f"{len(deps)} library modules, {sum(map(len, deps.values()))} dependencies; "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
