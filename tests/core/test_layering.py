"""The core does not depend on any adapter: no module under ``bridge/`` imports ``adapters``.

Read from the import graph (every ``bridge/**/*.py`` parsed with ``ast``), not by grepping:
module-level and function-level ``import``/``from ... import``, relative imports resolved,
and the string forms ``importlib.import_module("adapters...")`` / ``__import__("adapters...")``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "bridge"
FORBIDDEN = "adapters"


def module_name(path: Path) -> str:
    """``bridge/relay/core.py`` -> ``bridge.relay.core``; a package's ``__init__`` is the
    package."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Every module the source of ``module`` imports, at any depth of the file, absolute."""
    found: list[str] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        match node:
            case ast.Import(names=names):
                found.extend(alias.name for alias in names)
            case ast.ImportFrom(module=name, level=0) if name is not None:
                found.append(name)
                found.extend(f"{name}.{alias.name}" for alias in node.names)
            case ast.ImportFrom(module=name, level=level):
                base = package.split(".")
                base = base[: len(base) - (level - 1)] if level > 1 else base
                target = ".".join([*base, *([name] if name else [])])
                if target:
                    found.append(target)
                found.extend(".".join(filter(None, [target, a.name])) for a in node.names)
            case ast.Call(func=func, args=[ast.Constant(value=str() as name), *_]) if (
                _is_dynamic_import(func)
            ):
                found.append(name)
            case _:
                pass
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    match func:
        case ast.Name(id="__import__" | "import_module"):
            return True
        case ast.Attribute(attr="import_module"):
            return True
        case _:
            return False


def _is_adapter(name: str) -> bool:
    return name == FORBIDDEN or name.startswith(FORBIDDEN + ".")


def test_no_module_of_the_core_imports_an_adapter() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 20  # the walk found the core
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in files
        for name in imported_modules(
            path.read_text(encoding="utf-8"),
            module_name(path),
            is_package=path.name == "__init__.py",
        )
        if _is_adapter(name)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "import adapters.wechat.channel",
        "from adapters.matrix.hub import MatrixHub",
        "def f():\n    from adapters.wechat import channel\n",
        "import importlib\nimportlib.import_module('adapters.wechat.network')",
        "from importlib import import_module\nimport_module('adapters')",
        "__import__('adapters.matrix')",
        "from ... import adapters",  # from bridge.relay.x: three dots reach the repo root
    ],
)
def test_the_reader_sees_every_form_of_import(source: str) -> None:
    assert any(_is_adapter(n) for n in imported_modules(source, "bridge.relay.x"))


def test_the_reader_leaves_core_imports_alone() -> None:
    source = "from bridge.channel import Channel\nfrom . import core\nimport importlib\n"
    names = imported_modules(source, "bridge.relay.x")
    assert sorted(names) == [
        "bridge.channel",
        "bridge.channel.Channel",
        "bridge.relay",
        "bridge.relay.core",
        "importlib",
    ]
