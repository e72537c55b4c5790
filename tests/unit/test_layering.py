"""The layers of docs/architecture.md, read from the imports of every module (those inside
functions too): the service never imports the worker, a provider never imports a stage, the
client imports nothing of the service, the modules the API and the worker share stay below both,
and neither the API's schemas nor the pipeline touch the database layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "worker")

# (what, the modules it is about, the imports they may not have)
RULES = [
    ("the service imports the worker", "app", ("worker",)),
    ("a provider imports a pipeline stage", "worker.providers", ("worker.pipeline",)),
    ("the client imports the service or the worker", "app.client", ("app", "worker")),
    ("the API's schemas import the database layer", "app.schemas", ("app.db",)),
    ("the pipeline touches the database", "worker.pipeline", ("app.db",)),
    ("a provider touches the database", "worker.providers", ("app.db",)),
]
# What the API and the worker share (docs/architecture.md, "Layers"): below the API and the
# database.
SHARED = (
    "app.domain", "app.errors", "app.settings", "app.version", "app.voices", "app.speech",
    "app.songs", "app.queue_metrics", "app.storage", "app.s3_uploads", "app.media", "app.stock",
    "app.storyboard", "app.footage_search", "app.clip_uploads",
)  # fmt: skip
FORBIDDEN_TO_SHARED = ("app.db", "app.api", "app.main", "app.schemas", "app.commands")
RULES += [
    ("a shared module imports the API or the database", name, FORBIDDEN_TO_SHARED)
    for name in SHARED
]
# Within its own package a module may import its siblings.
OWN_PACKAGE = {"app.client": "app.client"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, *, package: str) -> set[str]:
    """Every module `source` imports, anywhere in it; relative imports are resolved against
    `package`, the package the importing module is in."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(module: str, imports: set[str]) -> list[str]:
    broken = []
    for what, subject, forbidden in RULES:
        if not within(module, subject):
            continue
        own = OWN_PACKAGE.get(subject)
        for name in sorted(imports):
            if own is not None and within(name, own):
                continue
            if any(within(name, prefix) for prefix in forbidden):
                broken.append(f"{module} imports {name}: {what}")
    return broken


def all_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
    }


def test_every_module_keeps_to_its_layer() -> None:
    broken = []
    for module, path in all_modules().items():
        source = path.read_text(encoding="utf-8")
        imports = imported_modules(source, package=package_of(module, path))
        broken += violations(module, imports)
    assert broken == []


def test_the_scan_sees_every_module_of_both_packages() -> None:
    modules = all_modules()
    assert {"app.main", "app.client.api", "worker.main", "worker.providers.tts"} <= set(modules)
    assert "worker.pipeline.run" in modules


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("app.api.routes.jobs", "def f():\n    from worker.main import Worker\n", "imports worker"),
        ("worker.providers.tts", "from worker.pipeline.voice import x\n", "pipeline stage"),
        ("app.client.commands", "import app.settings\n", "the client imports"),
        ("app.client.api", "from .. import schemas\n", "the client imports"),
        ("app.schemas", "from app.db.models import GenerationJob\n", "database layer"),
        ("worker.pipeline.render", "from app.db import session\n", "pipeline touches"),
        ("app.songs", "from app.api.deps import SettingsDep\n", "a shared module"),
    ],
)
def test_a_forbidden_import_is_caught(module: str, source: str, expected: str) -> None:
    imports = imported_modules(source, package=module.rsplit(".", 1)[0])
    broken = violations(module, imports)
    assert broken
    assert all(expected in line for line in broken)


def test_the_client_may_import_its_own_modules() -> None:
    source = "from app.client.api import ApiError\nfrom . import progress\n"
    imports = imported_modules(source, package="app.client")
    assert violations("app.client.commands", imports) == []
