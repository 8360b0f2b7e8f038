"""Installable anywhere: the wheel built from the repository holds the prompts, the
bundled corpus and the golden datasets; installed into a fresh venv that cannot see the
checkout, `papers` works from another folder and keeps its index in the per-user data
folder. And the product never imports the eval package: `papers eval` is a plugin.

The fast tests check the same rules on the development (editable) install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

HPM_Q = "What is hard patches mining in masked image modeling?"
ROOTS = ("assistant", "evals")  # the code packages; prompts/ and indexes/ are mapped in as data
MAPPED = {"prompts": "assistant/data/prompts", "indexes": "assistant/data/indexes"}  # repo folder -> wheel folder


def _pyproject(project_dir: Path) -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the project supports 3.10
    return tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))


def _source_packages(root: Path) -> set[str]:
    """Every folder under assistant/ and evals/ holding Python files, as a package name."""
    return {".".join(path.parent.relative_to(root).parts)
            for top in ROOTS for path in (root / top).rglob("*.py") if "__pycache__" not in path.parts}


# --- fast: the development install ---------------------------------------------------------------


def test_pyproject_lists_every_package(project_dir):
    config = _pyproject(project_dir)["tool"]["setuptools"]
    missing = _source_packages(project_dir) - set(config["packages"])
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml (or the wheel lacks them): {missing}"
    assert config["package-dir"] == {"assistant.data.prompts": "prompts", "assistant.data.indexes": "indexes"}


def test_shipped_files_come_from_the_install_not_a_path_guess(project_dir):
    from assistant import data
    from assistant.ingest import source_label
    from assistant.settings import Settings

    # The editable install maps the top-level folders in place.
    assert data.prompts_dir() == project_dir / "prompts"
    assert data.corpus_dir() == project_dir / "indexes" / "sources"
    settings = Settings()
    assert settings.prompts_dir == data.prompts_dir() and settings.corpus_dir == data.corpus_dir()
    assert source_label(data.corpus_dir() / "000_7b93b8b2ecf15c87.txt") == "indexes/sources/000_7b93b8b2ecf15c87.txt"
    assert not (project_dir / "assistant" / "data" / "prompts").exists()  # one copy of each file, at the top


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG layout is Linux's")
def test_indexes_live_in_the_user_data_folder_unless_papers_index_dir_says(monkeypatch, tmp_path):
    from assistant.settings import Settings

    monkeypatch.delenv("PAPERS_INDEX_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().index_dir == tmp_path / "xdg" / "paper-assistant" / "indexes"
    assert Settings().index_path == tmp_path / "xdg" / "paper-assistant" / "indexes" / "default"
    monkeypatch.setenv("PAPERS_INDEX_DIR", str(tmp_path / "mine"))
    assert Settings().index_dir == tmp_path / "mine"


def test_papers_eval_is_a_plugin_of_the_eval_package(capsys):
    from importlib.metadata import entry_points

    from assistant import cli
    from evals.command import register

    found = [ep.value for ep in entry_points(group=cli.COMMANDS_GROUP) if ep.name == "eval"]
    assert found == ["evals.command:register"]
    assert cli.build_parser().parse_args(["eval"]).func.__module__ == "evals.command"  # found, not imported
    assert cli.main(["eval", "--compare", "nowhere-a", "nowhere-b"], commands={"eval": register}) == 2
    assert "nowhere-a" in capsys.readouterr().err

    # Without the eval package the command still answers, with how to get it.
    assert cli.build_parser(commands={}).parse_known_args(["eval"])[0].func.__module__ == "assistant.cli"
    for argv in (["eval"], ["eval", "--dataset", "beir:x", "--limit", "3"], ["eval", "--help"]):
        assert cli.main(argv, commands={}) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: papers eval: ") and "not installed" in err and "pip install -e ." in err
    with pytest.raises(SystemExit) as exc:  # other commands still refuse unknown flags
        cli.main(["status", "--no-such-flag"], commands={})
    assert exc.value.code == 2 and "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_python_m_evals_is_papers_eval(project_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERS_", "OPENAI_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "evals", "--compare", tmp_path / "a", tmp_path / "b"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert str(tmp_path / "a") in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "evals", "--help"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "usage: papers eval" in proc.stdout and "--dataset" in proc.stdout


# --- slow: the built wheel in a fresh venv --------------------------------------------------------


def _copy_source(project_dir: Path, dest: Path) -> Path:
    """The source tree as a fresh clone has it: no venvs, build output, indexes or runs."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        skipped = {n for n in names if n in (".git", "build", "dist", "__pycache__", ".pytest_cache", "test-output")
                   or n.startswith(".venv") or n.endswith(".egg-info")}
        if here == project_dir / "indexes":
            skipped |= {n for n in names if n not in ("sources", "README.md", "__init__.py")}
        if here == project_dir / "evals":
            skipped |= {"runs"}
        return skipped

    shutil.copytree(project_dir, dest, ignore=ignore)
    return dest


def _dependencies_only(dest: Path) -> Path:
    """A folder of links to the main venv's installed packages, without this project's own
    install (its editable finder or metadata), for a .pth file: nothing is downloaded and the
    checkout is not on sys.path."""
    site = Path(sysconfig.get_paths()["purelib"])
    dest.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("__editable__", "paper_assistant", "assistant", "evals", "__pycache__")) \
                or name.endswith(".pth"):
            continue
        (dest / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return dest


def _run(cmd, cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout, proc.stdout[-3000:]
    return proc


@pytest.mark.slow
def test_the_wheel_installs_and_answers_from_anywhere(project_dir, tmp_path, corpus_dir, write_jsonl):
    # 1. Build the wheel from a clean copy of the sources (no stale build/ of the checkout).
    source = _copy_source(project_dir, tmp_path / "src")
    build_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", ".",
                           "-w", tmp_path / "dist"], cwd=source, env=build_env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("paper_assistant-*.whl")

    # 2. What it holds: every module, the prompts, the corpus and the datasets, byte for byte.
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        expected_py = {p.relative_to(source).as_posix() for top in ROOTS for p in (source / top).rglob("*.py")}
        expected_py |= {f"{MAPPED[folder]}/__init__.py" for folder in MAPPED}
        assert {n for n in names if n.endswith(".py")} == expected_py
        shipped = {"prompts": ("assistant/data/prompts", "*.txt"),
                   "indexes/sources": ("assistant/data/indexes/sources", "*.txt"),
                   "evals/datasets": ("evals/datasets", "*.jsonl"),
                 "assistant/ui": ("assistant/ui", "page.*")}  # the web UI's stylesheet and page script
        for folder, (inside, pattern) in shipped.items():
            files = sorted((source / folder).glob(pattern))
            files += [] if folder == "assistant/ui" else [source / folder / "README.md"]  # the data folders'
            assert len(files) >= (2 if folder == "assistant/ui" else 3), folder
            for path in files:
                assert zf.read(f"{inside}/{path.name}") == path.read_bytes(), f"{inside}/{path.name} differs"
        assert not [n for n in names if n.startswith("assistant/data/indexes/") and "/sources/" not in n
                    and not n.endswith("__init__.py")], "only the corpus of indexes/ is shipped"
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        assert "[paper_assistant.commands]" in entry_points and "eval = evals.command:register" in entry_points
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        assert "Requires-Dist: platformdirs" in metadata

    # 3. A fresh venv that sees the dependencies (through a .pth file) but not the checkout.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_dependencies.pth").write_text(f"{_dependencies_only(tmp_path / 'deps')}\n", encoding="utf-8")
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PAPERS_", "OPENAI_", "PYTHON", "VIRTUAL_ENV", "XDG_"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               ANONYMIZED_TELEMETRY="False", PYTHONIOENCODING="utf-8", PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    proc = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], work, env)
    assert proc.returncode == 0, proc.stderr[-3000:]

    proc = _run([python, "-c", "import json, sys, assistant, evals; from assistant.data import corpus_dir, "
                 "prompts_dir; print(json.dumps([assistant.__file__, evals.__file__, str(corpus_dir()), "
                 "str(prompts_dir()), sys.path]))"], work, env)
    assistant_file, evals_file, corpus, prompts, path = json.loads(proc.stdout)
    for installed in (assistant_file, evals_file, corpus, prompts):
        assert Path(installed).is_relative_to(site), installed
    checkout = project_dir.resolve()
    assert not [p for p in path if p and Path(p).resolve().is_relative_to(checkout)], path

    # 4. `papers` from another folder: help, a dry run over the shipped corpus, then a small
    #    index (in the per-user data folder) and a cited answer.
    papers = venv / "bin" / "papers"
    proc = _run([papers, "--help"], work, env)
    assert proc.returncode == 0 and all(c in proc.stdout for c in ("ingest", "ask", "compare", "eval", "serve"))
    proc = _run([papers, "eval", "--help"], work, env)
    assert proc.returncode == 0 and "golden" in proc.stdout and "holdout" in proc.stdout
    proc = _run([papers, "--version"], work, env)
    assert proc.returncode == 0 and proc.stdout == f"papers {dist_version('paper-assistant')}\n", proc.stdout
    proc = _run([papers, "mcp", "--help"], work, env)  # the MCP server's command, with the SDK installed beside it
    assert proc.returncode == 0 and "stdio" in proc.stdout

    proc = _run([papers, "ingest", "--dry-run", corpus], work, env)
    assert proc.returncode == 0, proc.stderr
    assert "indexes/sources/000_7b93b8b2ecf15c87.txt: arxiv-listing, 39 records" in proc.stdout
    assert "723 papers" in proc.stdout

    from assistant.ingest import ingest_paths

    papers_all = ingest_paths([corpus_dir]).papers
    chosen = [p for p in papers_all if "Hard Patches Mining" in p.title] + papers_all[:3]
    assert len(chosen) == 5
    rows = [{"title": p.title, "abstract": p.abstract, "authors": p.authors, "year": p.year} for p in chosen]
    source_file = write_jsonl(work / "few.jsonl", rows)
    proc = _run([papers, "ingest", source_file.name], work, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = home / "data" / "paper-assistant" / "indexes" / "default"
    assert f"Index {index}: 5 added" in proc.stdout
    assert (index / "manifest.json").is_file()

    proc = _run([papers, "ask", HPM_Q], work, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer, _, sources = proc.stdout.partition("\nSources:\n")
    assert sources, f"no cited answer:\n{proc.stdout}"
    assert "[1]" in answer and "hard patches" in answer.lower()
    assert "Hard Patches Mining" in sources.splitlines()[0]
    assert "(extractive," in proc.stdout

    # Nothing was written beside the user's files, and nothing outside HOME.
    assert sorted(p.name for p in work.iterdir()) == ["few.jsonl"]
