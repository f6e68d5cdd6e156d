"""The layers of ../shared/DESIGN.md hold in the code: no module imports a layer above it, and the pairs that must
not know each other (search/train, plan/compress, tabular/timeseries) never import each other — at any depth
inside a function either, since lazy imports are imports too."""

import ast
from pathlib import Path

import pytest

import tightfit

PACKAGE = Path(tightfit.__file__).parent
RANK = {  # first part of the module path below tightfit -> layer rank
    "measure": 1,
    "search": 2,
    "train": 2,
    "plan": 3,
    "compress": 3,
    "tabular": 4,
    "timeseries": 4,
    "report": 5,
    "serve": 5,
    "cli": 5,
}  # everything else (budget, guard, units, params, registry, errors, files, viz, ...) is the base: 0


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tightfit"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tightfit")}
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_it(path):
    module = "tightfit." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    own = _layer(module)
    own_rank = RANK.get(own, 0)
    for target in _imports(path):
        other = _layer(target)
        if other == "__init__" or other == own:
            continue
        other_rank = RANK.get(other, 0)
        same_rank_allowed = other_rank == own_rank and own_rank in (0, 5)  # the base, and the faces (cli uses report)
        assert other_rank < own_rank or same_rank_allowed, f"{module} imports {target} (layer {other})"


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from tightfit.tabular.autofit import AutoFit\n")
    assert "tightfit.tabular.autofit" in _imports(bad)
    assert RANK[_layer("tightfit.tabular.autofit")] > RANK[_layer("tightfit.search.loop")]
