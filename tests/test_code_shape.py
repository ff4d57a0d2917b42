"""The shape the code keeps (the project's rules): small functions and classes, eq. (5) written once."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import persona_iaa

SOURCE = Path(persona_iaa.__file__).parent


def _trees():
    for path in sorted(SOURCE.rglob("*.py")):
        yield path.relative_to(SOURCE), ast.parse(path.read_text(encoding="utf-8"))


def test_functions_have_at_most_60_lines_and_classes_at_most_12_methods():
    too_big = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > 60:
                    too_big.append(f"{path}:{node.lineno} {node.name}()")
            elif isinstance(node, ast.ClassDef):
                methods = [b for b in node.body if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if len(methods) > 12:
                    too_big.append(f"{path}:{node.lineno} class {node.name}")
    assert not too_big, too_big


def test_eq5_is_written_once():
    """s = s_a + w . s_p appears only in models.pdmtl.final_score; every other place calls it."""
    pattern = re.compile(r"aesthetic\w*\s*\+\s*\w*personality\w*\s*@")
    places = [str(path) for path, _ in _trees()
              if pattern.search((SOURCE / path).read_text(encoding="utf-8"))]
    assert places == [str(Path("models") / "pdmtl.py")], places
