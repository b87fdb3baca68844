"""The import contract: one-way imports between the packages and no import cycles inside one.

Layers, top to bottom: web -> worker -> translator. web may import worker and translator, worker
may import translator; translator imports neither worker nor web, and worker never imports web.
Inside each package no modules import each other in a circle (e.g. translator.cli.main <->
translator.cli.evaluate). The contracts are `[tool.importlinter]` in pyproject.toml, checked here
with import-linter (what `lint-imports` runs): every import statement counts, those inside
functions (lazy imports) and under `if TYPE_CHECKING:` included, read from the source by grimp
without importing anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from importlinter import api as importlinter_api
from importlinter.application import output as importlinter_output
from importlinter.application import use_cases as importlinter_use_cases

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def lint_imports(config: Path) -> tuple[bool, str]:
    """(all contracts kept, import-linter's report) for a configuration file."""
    with importlinter_output.console.capture() as captured:
        kept = importlinter_use_cases.lint_imports(config_filename=str(config), cache_dir=None,
                                                   no_logo=True)
    return kept, captured.get()


def test_the_layers_are_web_worker_translator():
    config = importlinter_api.read_configuration(str(PYPROJECT))
    (layers,) = [c["layers"] for c in config["contracts_options"]
                 if c["type"] == "layers" and not c.get("containers")]
    assert [layer.strip() for layer in layers] == ["web", "worker", "translator"]


def test_translator_is_layered_by_phase_and_the_torch_free_parts_are_named():
    config = importlinter_api.read_configuration(str(PYPROJECT))
    contracts = config["contracts_options"]
    (phases,) = [c for c in contracts if c.get("containers") == ["translator"]]
    named = {part.strip() for layer in phases["layers"] for part in layer.split(":")}
    on_disk = {p.stem for p in (ROOT / "translator").iterdir()
               if p.suffix == ".py" or (p / "__init__.py").is_file()} - {"__init__"}
    assert named == on_disk  # a new subpackage or top-level module must take its place
    (no_torch,) = [c for c in contracts if c["type"] == "forbidden"]
    assert no_torch["forbidden_modules"] == ["torch"]
    assert {"web", "translator.formats", "translator.evaluation.metrics"} <= set(
        no_torch["source_modules"])


def test_the_project_keeps_its_import_contracts():
    kept, report = lint_imports(PYPROJECT)
    assert kept, report


CONTRACTS = """
[importlinter]
root_packages =
    low
    high

[importlinter:contract:layers]
name = Layers
type = layers
layers =
    high
    low

[importlinter:contract:cycles]
name = No cycles
type = acyclic_siblings
ancestors =
    low
"""


def write_package(root: Path, name: str, modules: dict[str, str]) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    for module, source in modules.items():
        (root / name / f"{module}.py").write_text(source)


def test_the_contracts_catch_lazy_upward_imports_and_cycles(tmp_path, monkeypatch):
    """A package with a cycle closed by an import inside a function, one through a
    TYPE_CHECKING import, and an upward import inside a function: all are reported, with
    where they are; the same packages without those imports pass."""
    write_package(tmp_path, "low", {
        "a": "from . import b\n",
        "b": "from low.c import f\n",
        "c": "def f():\n    from low import a\n    return a\n",
        "e": "def g():\n    import high.x\n    return high.x\n",
        "pair1": "import low.pair2\n",
        "pair2": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                 "    from low import pair1\n",
    })
    write_package(tmp_path, "high", {"x": "import low.a\n"})
    (tmp_path / ".importlinter").write_text(CONTRACTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    kept, report = lint_imports(tmp_path / ".importlinter")
    assert not kept
    assert "low is not allowed to import high" in report and "low.e -> high.x (l.2)" in report
    assert ".c -> .a" in report and "pair" in report, report

    for module in ("c", "e", "pair2"):
        (tmp_path / "low" / f"{module}.py").write_text("")
    kept, report = lint_imports(tmp_path / ".importlinter")
    assert kept, report


def copy_of_the_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for package in ("translator", "worker", "web"):
        shutil.copytree(ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    return root


def lint_copy(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(lint), "--config", "pyproject.toml", "--no-cache"], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True,
                          text=True, timeout=300)


def test_the_project_contracts_fail_on_a_phase_import_upward_or_torch_in_the_formats(tmp_path):
    """The real contracts, on a copy of the project with two bad imports, each inside a
    function: the data phase reaching up into training, and a format importing torch."""
    root = copy_of_the_project(tmp_path)
    with open(root / "translator/data/vocab.py", "a") as f:
        f.write("\n\ndef _bad():\n    from translator.training import trainer\n"
                "    return trainer\n")
    with open(root / "translator/formats/srt.py", "a") as f:
        f.write("\n\ndef _bad():\n    import torch\n    return torch\n")
    done = lint_copy(root)
    assert done.returncode != 0
    assert "translator.data is not allowed to import translator.training" in done.stdout, (
        done.stdout[-3000:] + done.stderr[-2000:])
    assert "translator.formats is not allowed to import torch" in done.stdout
    assert "translator.formats.srt -> torch" in done.stdout


def test_the_worker_names_errors_without_importing_torch():
    """A time limit can strike while a pool process imports torch; telling the job what went
    wrong must not import it again (a half-imported torch raises on every later import)."""
    code = ("import sys\n"
            "from worker.lifecycle import user_message\n"
            "from translator.errors import CheckpointError\n"
            "assert user_message(CheckpointError('bad file')) == 'bad file'\n"
            "assert user_message(KeyError('x')).startswith('internal error')\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
