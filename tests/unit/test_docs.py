"""The docs quote what the code does: every error text docs/troubleshooting.md explains is one dfs can print."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"<[^>]+>")


def quoted_errors():
    """The headings of docs/troubleshooting.md that are one code span: each an error text, ``<…>`` for what varies."""
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    return re.findall(r"(?m)^### `([^`]+)`$", text)


def string_literals():
    """Every string the dfs package can print: constants, and f-strings with NUL where a value goes."""
    found = []
    for source in (ROOT / "dfs").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
            elif isinstance(node, ast.JoinedStr):
                found.append("".join(part.value if isinstance(part, ast.Constant) else "\0" for part in node.values))
    return found


def test_troubleshooting_quotes_texts_the_code_prints():
    literals = string_literals()
    quoted = quoted_errors()
    assert len(quoted) > 30
    missing = []
    for message in quoted:
        fragments = [f for f in PLACEHOLDER.split(message) if f.strip()]
        # Each fixed part appears, in order, in one literal of the code.
        pattern = re.compile(".*".join(re.escape(f) for f in fragments), re.S)
        if not any(pattern.search(literal) for literal in literals):
            missing.append(message)
    assert missing == []
