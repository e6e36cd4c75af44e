"""The package's shape: one folder per workflow stage, imports that run one way, no cycles.

The import graph is read from the source (every `import`, also inside functions, except
`if TYPE_CHECKING:` blocks), so a lazy import that goes the wrong way fails here too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import shuttlesense
from shuttlesense.cli import COMMANDS

PACKAGE = Path(shuttlesense.__file__).parent

SHARED = {"labels", "paths", "cli"}  # used by every stage; import no stage
ENTRY = {"__init__", "__main__", "demo", "pipeline", "serve"}  # entry points and aliases for users
STAGES = {  # stage -> the stages it may import (itself included)
    "data": {"data"},
    "inference": {"data", "inference"},
    "training": {"data", "inference", "training"},
    "evaluation": {"data", "inference", "evaluation"},
    "rally": {"data", "inference", "training", "evaluation", "rally"},
    "web": {"data", "inference", "training", "evaluation", "rally", "web"},
    "synthetic": {"data", "inference", "synthetic"},
}
# Test assets are for tests and the offline demo; in the package only these may build them.
SYNTHETIC_USERS = {"shuttlesense.demo", "shuttlesense.web.serve"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (imports for type checkers only)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str) -> str | None:
    """The package module an imported dotted name refers to (longest existing prefix)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in MODULES:
            return ".".join(parts)
        parts.pop()
    return None


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: relative import; use absolute shuttlesense.* imports"
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] == "shuttlesense" and (target := _resolve(name)) and target != module:
                found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def stage_of(module: str) -> str:
    """The stage folder of a module, or its name for a top-level module ("__init__" for the root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_top_folder_holds_only_shared_modules_and_entry_points():
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top <= SHARED | ENTRY, f"modules at the top that belong in a stage: {sorted(top - SHARED - ENTRY)}"
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert folders == set(STAGES)


def test_every_stage_documents_what_it_does():
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) >= 3, f"shuttlesense/{stage}/__init__.py needs a docstring"


def wrong_way_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        source = stage_of(module)
        for target in targets:
            dest = stage_of(target)
            if dest == "__init__" or source in ENTRY:
                continue  # the root package is imported with any submodule; entry points import anything
            if source in SHARED and dest not in SHARED:
                wrong.append(f"{module} (shared) -> {target}")
            elif dest in ENTRY:
                wrong.append(f"{module} -> {target} (an entry point)")
            elif dest == "synthetic" and source != "synthetic":
                if module not in SYNTHETIC_USERS:
                    wrong.append(f"{module} -> {target} (test assets)")
            elif source in STAGES and dest in STAGES and dest not in STAGES[source]:
                wrong.append(f"{module} ({source}) -> {target} ({dest})")
    return sorted(wrong)


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_imports_run_one_way_between_stages():
    wrong = wrong_way_imports(GRAPH)
    assert not wrong, "imports against the stage order:\n" + "\n".join(wrong)


def test_no_import_cycles():
    cycles = import_cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_checks_catch_wrong_way_imports_and_cycles():
    """The checks above are only worth something if they can fail."""
    bad = {
        "shuttlesense.inference.recognizer": {"shuttlesense.training.trainer"},  # upward
        "shuttlesense.training.trainer": {"shuttlesense.synthetic.tiny_models"},  # test assets
        "shuttlesense.labels": {"shuttlesense.data.scan"},  # shared -> stage
        "shuttlesense.rally.hits": {"shuttlesense.rally.visual_hits", "shuttlesense.pipeline"},
        "shuttlesense.rally.visual_hits": {"shuttlesense.rally.hits"},
        "shuttlesense.web.serve": {"shuttlesense.synthetic.tiny_models"},  # the allowed fallback
    }
    assert wrong_way_imports(bad) == [
        "shuttlesense.inference.recognizer (inference) -> shuttlesense.training.trainer (training)",
        "shuttlesense.labels (shared) -> shuttlesense.data.scan",
        "shuttlesense.rally.hits -> shuttlesense.pipeline (an entry point)",
        "shuttlesense.training.trainer -> shuttlesense.synthetic.tiny_models (test assets)",
    ]
    assert import_cycles(bad) == [
        ["shuttlesense.rally.hits", "shuttlesense.rally.visual_hits", "shuttlesense.rally.hits"]
    ]


def test_public_api_and_commands_import_in_a_fresh_interpreter():
    code = (
        "from shuttlesense import QwenVLActionRecognizer, QwenVLEnhancedDetector, "
        "create_qwen_vl_enhanced_detector, VideoMAEActionRecognizer\n"
        "from shuttlesense.pipeline import create_qwen_vl_enhanced_detector as alias\n"
        "from shuttlesense.serve import ServeArguments, create_app\n"
        "assert alias is create_qwen_vl_enhanced_detector\n"
        "import importlib\n"
        "from shuttlesense.cli import COMMANDS\n"
        "for module, _ in COMMANDS.values():\n"
        "    assert callable(importlib.import_module(module).main), module\n"
        "for stage in " + repr(sorted(STAGES)) + ":\n"
        "    package = importlib.import_module('shuttlesense.' + stage)\n"
        "    for name in package.__all__:\n"
        "        getattr(package, name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_module_is_in_a_stage(command):
    module = COMMANDS[command][0]
    assert module in MODULES and stage_of(module) in {*STAGES, "demo"}, module


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "shuttlesense", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "usage: shuttlesense <command>" in result.stdout
