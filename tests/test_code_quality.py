"""Lint, formatting and migrations are part of the suite, so CI catches them."""

from __future__ import annotations

import ast
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=settings.BASE_DIR, capture_output=True, text=True)


def test_ruff_finds_no_problems():
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted():
    result = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_models_and_migrations_agree(db):
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        raise AssertionError(f"missing migrations:\n{out.getvalue()}") from None


def test_platform_is_not_a_python_package():
    assert not (settings.BASE_DIR / "platform" / "__init__.py").exists()


# --- the shape of the code: no import loops, layers as drawn, modules of a readable size -----

SOURCE_ROOTS = ("apps", "config")
# cog_schema.py runs standalone inside model environments (it may import nothing of ours), so
# it cannot be split into modules that import each other; its docstring says so.
LONG_MODULE_EXCEPTIONS = {"apps/runtime/cog_schema.py"}
MAX_MODULE_LINES = 500


def source_modules(roots=SOURCE_ROOTS) -> dict[str, Path]:
    """Dotted module name -> file, for our code (migrations left out)."""
    modules = {}
    for root in roots:
        for path in (settings.BASE_DIR / root).rglob("*.py"):
            relative = path.relative_to(settings.BASE_DIR)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports, at the top or inside functions alike."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    result = set()
    for target in found:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            result.add(target)
    return result


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a circle (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return loops


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "apps" and len(parts) > 1 else None


# What each app may import of the others (docs/architecture.md draws the same map); explore,
# at the top, may import any. `predictions` depends on `catalog`, never the other way round.
ALLOWED_APP_IMPORTS = {
    "core": set(),
    "accounts": {"core"},
    "runtime": {"core"},
    "billing": {"core", "accounts"},
    "files": {"core", "accounts"},
    "catalog": {"core", "accounts", "billing", "files", "runtime"},
    "predictions": {"core", "accounts", "billing", "files", "runtime", "catalog"},
    "deployments": {"core", "accounts", "billing", "files", "runtime", "catalog", "predictions"},
}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        app = app_of(module)
        if app not in ALLOWED_APP_IMPORTS or ".management." in module:
            continue
        for target in sorted(targets):
            other = app_of(target)
            if other and other != app and other not in ALLOWED_APP_IMPORTS[app]:
                problems.append(f"{module} imports {target}")
    return problems


def test_no_module_imports_itself_around_a_circle():
    loops = import_loops(import_graph())
    assert not loops, "import loops:\n" + "\n".join(" -> ".join(loop) for loop in loops)


def test_the_loop_finder_finds_a_loop():
    assert import_loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_apps_import_only_the_layers_below_them():
    problems = layer_violations(import_graph())
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_the_layer_rule_catches_catalog_importing_predictions():
    graph = {"apps.catalog.views": {"apps.predictions.models"}, "apps.runtime.pool": set()}
    assert layer_violations(graph) == ["apps.catalog.views imports apps.predictions.models"]


def test_demo_models_import_nothing_of_the_platform():
    offenders = []
    for path in (settings.BASE_DIR / "models").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(settings.BASE_DIR)}: {name}"
                for name in names
                if name.split(".")[0] in ("apps", "config", "django", "bench", "tests")
            ]
    assert not offenders, offenders


def test_no_module_is_too_long_to_read():
    long = []
    for path in (settings.BASE_DIR / "apps").rglob("*.py"):
        relative = path.relative_to(settings.BASE_DIR).as_posix()
        if "migrations" in relative or relative in LONG_MODULE_EXCEPTIONS:
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            long.append(f"{relative}: {lines} lines")
    assert not long, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)


def test_the_long_module_exception_says_why():
    for relative in LONG_MODULE_EXCEPTIONS:
        docstring = ast.get_docstring(ast.parse((settings.BASE_DIR / relative).read_text()))
        assert docstring and "standalone" in docstring, relative
