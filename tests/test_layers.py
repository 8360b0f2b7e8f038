"""The layout's rules, checked on the source tree: every module imports on its own (no
import cycle that only works in one order), the product never imports the eval package,
and the concepts that must exist once do."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import assistant
from assistant import errors

PACKAGE = Path(assistant.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="assistant."))


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_every_module_imports_on_its_own():
    # One interpreter per module would take minutes (gradio, torch); one interpreter that
    # imports each module into a fresh sys.modules catches the same partial-import cycles.
    script = (
        "import importlib, sys\n"
        "base = set(sys.modules)\n"
        "failed = []\n"
        f"for name in {MODULES!r}:\n"
        "    for mod in [m for m in sys.modules if m == 'assistant' or m.startswith('assistant.')]:\n"
        "        del sys.modules[mod]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ""


def test_the_product_never_imports_evals():
    offenders = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
                 if any(name == "evals" or name.startswith("evals.") for name in _imports(p))]
    assert offenders == []


@pytest.mark.parametrize("name", [n for n in dir(errors) if n.endswith(("Error", "Index", "Mismatch", "File"))])
def test_every_error_of_errors_py_is_a_user_error(name):
    assert issubclass(getattr(errors, name), errors.UserError)


def test_no_other_module_defines_a_public_exception():
    # User errors live in errors.py; a private exception (leading underscore) used for
    # control flow inside one module is allowed.
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if bases & {"Exception", "ValueError", "RuntimeError", "UserError"}:
                    offenders.append(f"{path.name}:{node.name}")
    assert offenders == []
