"""The layering of docs/architecture.md, checked on the source: no module imports from a floor
above its own, nothing imports the package face, and only the run layer spells the names of the
files of a run folder."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "singan"

# Floor of every top-level module or package of singan, bottom first (docs/architecture.md).
FLOORS = {
    "_version": 0, "errors": 0,
    "bounds": 1, "config": 1, "resize": 1, "budget": 1, "data": 1,
    "files": 2, "images": 2, "pyramid": 2, "losses": 2, "bands": 2,
    "models": 3, "consingan": 3, "families": 3,
    "sample": 4, "training": 4, "patch": 4,
    "run": 5, "apps": 5, "metrics": 5,
    "batch": 6, "ui": 6,
    "cli": 7,
}
RUN_FILE_NAMES = ("config.json", "model.safetensors", "train_state.safetensors",
                  "progress.json", "log.txt", "stats.jsonl", "worker.log", "train-many.log",
                  "input.png")


def modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts == ("__init__",) or parts == ("__main__",):
            continue  # the package face and `python -m singan` stand above every floor
        yield path, parts


def imported(path: Path, parts: tuple[str, ...]):
    """(line, top-level singan module) of every import of a module of singan in a file."""
    package = parts[:-1]  # the package a relative import starts from
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "singan" or alias.name.startswith("singan."):
                    name = alias.name.split(".")
                    yield node.lineno, name[1] if len(name) > 1 else ""
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and (node.module == "singan" or node.module.startswith("singan.")):
                    rest = node.module.split(".")[1:]
                    targets = [rest[0]] if rest else [a.name for a in node.names]
                    for t in targets:
                        yield node.lineno, t
                continue
            base = list(package[:len(package) - (node.level - 1)])
            rest = node.module.split(".") if node.module else []
            full = base + rest
            if full:
                yield node.lineno, full[0]
            else:  # `from .. import x` at the top of the package: x is a module, or the face
                for a in node.names:
                    yield node.lineno, a.name if a.name in FLOORS else ""


def test_every_module_has_a_floor():
    tops = {parts[0] for _, parts in modules()}
    assert tops <= FLOORS.keys(), sorted(tops - FLOORS.keys())


def test_no_module_imports_from_a_floor_above_it():
    bad = []
    for path, parts in modules():
        own = FLOORS[parts[0]]
        for line, target in imported(path, parts):
            where = f"{path.relative_to(SRC)}:{line}"
            if target == "":
                bad.append(f"{where} imports the package face `singan`")
            elif FLOORS[target] > own:
                bad.append(f"{where} ({parts[0]}, floor {own}) imports {target} "
                           f"(floor {FLOORS[target]})")
    assert not bad, "\n".join(bad)


def test_only_the_run_layer_names_the_files_of_a_run_folder():
    found = []
    for path, parts in modules():
        if parts[0] == "run":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for name in RUN_FILE_NAMES:
                    if name in node.value:
                        found.append(f"{path.relative_to(SRC)}:{node.lineno}: {name}")
    assert not found, "\n".join(found)
