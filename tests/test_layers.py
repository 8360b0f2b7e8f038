"""The layout's rules, checked on the source tree: every module imports on its own (no
import cycle that only works in one order), the product never imports the eval package,
and the concepts that must exist once do."""

from __future__ import annotations

import ast
import inspect
import pkgutil
import re
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


@pytest.mark.parametrize("name", [name for name, obj in inspect.getmembers(errors, inspect.isclass)
                                  if issubclass(obj, BaseException) and obj.__module__ == errors.__name__])
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
                if any(b in {"Exception", "BaseException", "UserError"} or b.endswith(("Error", "Exception"))
                       for b in bases):
                    offenders.append(f"{path.name}:{node.name}")
    assert offenders == []


# --- tests and experiments use the seams, never patches ------------------------------------------
#
# Tests, evaluations and benchmarks reach the product through its seams (`embedder=`,
# per-call `settings=` variants, constructor arguments); they never swap a project class,
# method, object attribute or module global, and never assign to a (frozen) settings object.
# Patching stdlib or third-party things (shutil.get_terminal_size, os.environ) is allowed.

PATCHERS = {"setattr", "delattr", "setitem", "delitem"}


def _is_project(module: str | None) -> bool:
    return module is not None and (module == "assistant" or module.startswith("assistant."))


def _imported_from(tree: ast.AST) -> dict[str, str]:
    """Name bound by an import -> the module it comes from (`import a.b` binds a -> a)."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name or alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                bound[alias.asname or alias.name] = node.module
    return bound


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def patching_offences(source: str) -> list[str]:
    """Where `source` patches a project object or assigns to settings: "line: what"."""
    tree = ast.parse(source)
    bound = _imported_from(tree)
    # Lines inside `with pytest.raises(...):` blocks: an assignment there is a test that it fails.
    refused = {line for node in ast.walk(tree) if isinstance(node, ast.With)
               and any(isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "attr", "") == "raises"
                       for item in node.items)
               for line in range(node.body[0].lineno, node.body[-1].end_lineno + 1)}

    def foreign(target: ast.AST) -> bool:
        """An object reached from a stdlib or third-party import (patching it is allowed)."""
        root = _root(target)
        return isinstance(root, ast.Name) and root.id in bound and not _is_project(bound[root.id])

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            args = node.args
            if name == "__setattr__" or (name in PATCHERS and isinstance(func, ast.Name) and args
                                          and not foreign(args[0])):
                found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
            elif name in PATCHERS and args:  # monkeypatch.setattr(...) and the like
                target, key = _text(args[0]), _text(args[1]) if len(args) > 1 else None
                if target is not None:
                    bad = _is_project(target.split(":")[0].rsplit(".", 1)[0]) or target.startswith("assistant")
                else:
                    bad = not foreign(args[0]) or (key is not None and key.startswith("assistant"))
                if bad:
                    found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
            elif name in ("patch", "object") and args:  # unittest.mock.patch("assistant...") / patch.object(...)
                target = _text(args[0])
                if (target is not None and target.startswith("assistant")) or (
                        name == "object" and target is None and not foreign(args[0])):
                    found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            if isinstance(target, ast.Attribute):
                owner = target.value
                on_settings = (isinstance(owner, ast.Attribute) and owner.attr == "settings") or (
                    isinstance(owner, ast.Name) and owner.id.endswith("settings"))
                replaces_settings = target.attr == "settings" and not (isinstance(owner, ast.Name) and owner.id == "self")
                root = _root(target)
                on_project = isinstance(root, ast.Name) and _is_project(bound.get(root.id))
                if (on_settings or replaces_settings or on_project) and node.lineno not in refused:
                    found.append(f"{node.lineno}: {ast.unparse(target)} = ...")
            elif isinstance(target, ast.Subscript):
                key = _text(target.slice)
                dict_of = isinstance(target.value, ast.Attribute) and target.value.attr == "__dict__"
                if dict_of or (isinstance(target.value, ast.Call) and getattr(target.value.func, "id", "") == "vars") \
                        or (key is not None and key.startswith("assistant")):
                    found.append(f"{node.lineno}: {ast.unparse(target)} = ...")
    return found


PATCHING = {
    "monkeypatch.setattr('assistant.index.make_embedder', f)": True,
    "from assistant import retrieve\nmonkeypatch.setattr(retrieve, 'MAX_IN_FILTER', 0)": True,
    "from assistant.index.lexical import Bm25Chunks\nmonkeypatch.setattr(Bm25Chunks, 'build', f)": True,
    "monkeypatch.setattr(pa.index, '_sentences', table)": True,
    "import assistant.index.store as store\nmonkeypatch.setattr(store, 'atomic_write_text', w)": True,
    "setattr(model, 'answer', reply)": True,
    "from assistant import retrieve\nretrieve.MAX_IN_FILTER = 0": True,
    "pa.index.settings = base.model_copy(update={'rrf_k': 1})": True,
    "pa.settings.top_k = 3": True,
    "settings.top_k = 3": True,
    "object.__setattr__(settings, 'top_k', 3)": True,
    "vars(settings)['top_k'] = 3": True,
    "sys.modules['assistant.index'] = fake": True,
    "patch('assistant.llm.ChatLLM')": True,
    "monkeypatch.setattr('shutil.get_terminal_size', f)": False,
    "import shutil\nmonkeypatch.setattr(shutil, 'get_terminal_size', f)": False,
    "import os\nmonkeypatch.setitem(os.environ, 'PAPERS_TOP_K', '3')": False,
    "monkeypatch.setenv('PAPERS_TOP_K', '3')": False,
    "class A:\n    def __init__(self, settings):\n        self.settings = settings": False,
    "variant = pa.settings.model_copy(update={'rrf_k': 10.0})": False,
    "model.answer = reply": False,
    "import pytest\nwith pytest.raises(ValidationError):\n    settings.top_k = 3": False,
}


@pytest.mark.parametrize("source", PATCHING, ids=range(len(PATCHING)))
def test_the_patching_check_tells_patches_from_seams(source):
    assert bool(patching_offences(source)) == PATCHING[source], patching_offences(source)


def test_no_test_or_experiment_patches_the_product_or_assigns_settings():
    offenders = []
    for folder in (Path(__file__).parent, PACKAGE.parent / "evals"):
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            offenders += [f"{path.relative_to(PACKAGE.parent)}:{o}" for o in patching_offences(path.read_text("utf-8"))]
    assert offenders == []


def test_one_citation_marker_pattern():
    """The marker [n] is spelled as a pattern once (answer/text.py MARKER); every other
    pattern that needs it embeds MARKER."""
    spelled = re.compile(r"\\\[\(?\\d")  # a regex source that starts a bracketed number: \[\d or \[(\d
    offenders = [f"{p.relative_to(PACKAGE.parent)}:{n}" for p in PACKAGE.rglob("*.py") if p.name != "text.py"
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if spelled.search(line)]
    assert offenders == []
    assert spelled.search((PACKAGE / "answer" / "text.py").read_text(encoding="utf-8"))
