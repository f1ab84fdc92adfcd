"""The metrics the code emits, read from its source: every `count("Name", ..., dim=...)` call in
chalicelib/ — the name a literal or a module-level constant — (chalicelib/observability.py METRICS
must hold each, with those dimensions)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class MetricCall:
    where: str
    name: str | None  # None: the name is not a string literal
    dimensions: frozenset[str]


def metric_calls() -> list[MetricCall]:
    calls = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "count"):
                continue
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                name: str | None = first.value
            else:  # a module-level constant (METRIC = "..."), else unknown
                name = constants.get(first.id) if isinstance(first, ast.Name) else None
            dims = frozenset(k.arg or "**" for k in node.keywords)
            calls.append(MetricCall(f"{path.relative_to(ROOT)}:{node.lineno}", name, dims))
    return calls


def emitted_names() -> set[str]:
    return {c.name for c in metric_calls() if c.name is not None}
