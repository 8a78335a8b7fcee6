#!/usr/bin/env python3
"""Checks the shape of the crate and its documents, as CI does (.ci/run):

- at most MAX_ENTRIES entries at the top of src/ (folders by concept);
- no source file in src/ longer than MAX_LINES lines (one concept, read in one sitting);
- no import circle among the library's top-level modules (src/X.rs or src/X/), judged
  from every `crate::X` path in each module's files;
- every module's file opens with a comment that says what it owns;
- lib.rs's module map matches the disk: it names every folder (`model/`) and every
  module file in it (`loss`), and no folder that is not there;
- every source file named in a comment (`checkpoint.rs`, `src/run/files.rs`) exists;
- README.md has at most README_LINES lines, and every repository path that it and
  notebooks-export/*.md name (`scripts/test.sh`, links) exists.

    python3 scripts/check_structure.py          # prints the problems, exits 1 on any
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

MAX_LINES = 400
MAX_ENTRIES = 14
README_LINES = 300
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src"
REPO = SRC.parent
# The folders at the top of the repository: a path that starts with one is a repository path.
TOP = ("src/", "scripts/", "tests/", "notebooks-export/", "models/", ".ci/")


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


def module_map_problems() -> list[str]:
    """lib.rs's map against the disk: each folder as `name/`, each module file as `stem`."""
    doc = "\n".join(l[3:] for l in (SRC / "lib.rs").read_text().splitlines() if l.startswith("//!"))
    problems = []
    folders = sorted(p for p in SRC.iterdir() if p.is_dir())
    for folder in folders:
        if f"`{folder.name}/`" not in doc:
            problems.append(f"src/lib.rs: the module map does not name {folder.name}/")
        for f in sorted(folder.glob("*.rs")):
            if f"`{f.stem}`" not in doc and not re.search(rf"`{f.stem}`|\[`{f.stem}`\]|{f.stem}::", doc):
                problems.append(f"src/lib.rs: the module map does not name {folder.name}/{f.name}")
    for named in re.findall(r"`(\w+)/`", doc):
        if not (SRC / named).is_dir():
            problems.append(f"src/lib.rs: the module map names {named}/, which is not in src/")
    return problems


def named_source_problems() -> list[str]:
    """Source files that comments name (`x.rs`, `src/a/x.rs`) but that do not exist."""
    files = [p.relative_to(REPO).as_posix() for p in SRC.rglob("*") if p.is_file()]
    # Third-party headers (mkl_cbwr.h, cuda_runtime_api.h) are not ours to check.
    problems = []
    for path in sorted(list(SRC.rglob("*.rs")) + [REPO / "build.rs"]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "//" not in line:
                continue
            comment = line[line.index("//"):]
            for name in re.findall(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.(?:rs|cpp))\b", comment):
                found = (REPO / name).exists() or any(f.endswith("/" + name) for f in files)
                if not found:
                    problems.append(f"{path.relative_to(REPO)}:{number}: names {name}, which does not exist")
    # The Python package, the scripts and the Python tests name Rust files by their path.
    others = [p for p in sorted((REPO / "scripts").rglob("*")) + sorted((REPO / "tests").rglob("*.py"))
              if p.suffix in (".py", ".sh") and p.name != "check_structure.py"]
    for path in others:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in re.findall(r"(?<![\w/.-])(src/[\w/]+\.(?:rs|cpp|h))\b", line):
                if not (REPO / name).exists():
                    problems.append(f"{path.relative_to(REPO)}:{number}: names {name}, which does not exist")
    return problems


def document_problems() -> list[str]:
    """README's length, and the repository paths that README and the notebooks name."""
    problems = []
    readme = REPO / "README.md"
    lines = readme.read_text().splitlines()
    if len(lines) > README_LINES:
        problems.append(f"README.md: {len(lines)} lines (at most {README_LINES})")
    docs = [readme] + sorted((REPO / "notebooks-export").rglob("*.md"))
    for doc in docs:
        text = doc.read_text()
        names = set(re.findall(r"`((?:%s)[^`\s]*)`" % "|".join(map(re.escape, TOP)), text))
        names |= {n for n in re.findall(r"(?<![\w/.])((?:%s)[\w./-]*\w)" % "|".join(map(re.escape, TOP)), text)}
        for name in sorted(names):
            clean = name.split("#")[0].split("::")[0].rstrip(".,:;)")
            if "<" in clean or "*" in clean or clean.startswith("models/"):
                continue  # a pattern or a run folder the user makes, not a repository path
            if not (REPO / clean).exists():
                problems.append(f"{doc.relative_to(REPO)}: names {clean}, which does not exist")
        for link in re.findall(r"\]\(([^)#\s]+)", text):
            if "://" in link or link.startswith("mailto:"):
                continue
            if not (doc.parent / link).exists():
                problems.append(f"{doc.relative_to(REPO)}: links to {link}, which does not exist")
    return problems


def main() -> int:
    problems = []
    entries = sorted(p.name for p in SRC.iterdir())
    if len(entries) > MAX_ENTRIES:
        problems.append(f"src/: {len(entries)} entries at the top (at most {MAX_ENTRIES}): {entries}")
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
    problems += module_map_problems() + named_source_problems() + document_problems()
    for p in problems:
        print(p)
    print(f"{len(deps)} library modules, {sum(map(len, deps.values()))} dependencies; "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
