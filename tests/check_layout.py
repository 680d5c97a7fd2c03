#!/usr/bin/env python3
"""Checks the module layout of core/src that ../shared/DESIGN.md and the README describe.

1. No import cycle between the top-level modules of core/src: a module's files name other
   modules as `crate::<module>`, `super::<module>` (from a top-level file) or in `use crate::{..}`;
   the graph of those references must be acyclic (test code, `#[cfg(test)]` blocks, is ignored).
2. The leaf module `columns` imports nothing of vigil but `error`.
3. No Rust file in core/src is over MAX_LINES lines (exceptions listed with a reason).

Run: python3 tests/check_layout.py  (exit 1 with the reason on failure).
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "core" / "src"
MAX_LINES = 650
EXCEPTIONS: dict = {}
LEAVES = {"columns": {"error"}, "error": set(), "rng": set()}


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".rs")


def strip_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod tests { ... }` blocks (brace matched)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def references(text: str, modules: set) -> set:
    text = re.sub(r"//[^\n]*", "", text)
    refs = set(re.findall(r"\bcrate::(\w+)", text))
    for group in re.findall(r"\buse crate::\{([^;]*)\};", text, flags=re.S):
        refs.update(re.findall(r"(?:^|[\s,{])(\w+)(?=::|\s*[,}]|$)", group))
    return {r for r in refs if r in modules}


def main() -> int:
    files = sorted(p for p in ROOT.rglob("*.rs"))
    modules = {module_of(p) for p in files} - {"lib"}
    graph = {m: set() for m in modules}
    problems = []
    for p in files:
        m = module_of(p)
        text = p.read_text()
        lines = text.count("\n")
        rel = str(p.relative_to(ROOT.parent.parent))
        if lines > MAX_LINES and rel not in EXCEPTIONS:
            problems.append(f"{rel}: {lines} lines (over {MAX_LINES})")
        if m == "lib":
            continue
        graph[m] |= references(strip_tests(text), modules) - {m}
    for leaf, allowed in LEAVES.items():
        extra = graph.get(leaf, set()) - allowed
        if extra:
            problems.append(f"leaf module `{leaf}` imports {sorted(extra)}")
    # Cycle search (DFS with colours), reporting one cycle.
    colour, stack = {}, []

    def visit(m):
        colour[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if colour.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                problems.append("import cycle: " + " -> ".join(cycle))
                return True
            if colour.get(n) is None and visit(n):
                return True
        colour[m] = 2
        stack.pop()
        return False

    for m in sorted(graph):
        if colour.get(m) is None and visit(m):
            break
    for p in problems:
        print("layout:", p)
    if not problems:
        order = []
        done = set()
        while len(done) < len(graph):
            ready = sorted(m for m in graph if m not in done and graph[m] <= done)
            order.append(ready)
            done |= set(ready)
        print("layout: no import cycle; layers (each imports only earlier ones):")
        for i, layer in enumerate(order):
            print(f"  {i}: {', '.join(layer)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
