"""Nothing outside dfs/namenode/namespace/ touches a database: no database driver, no SQL."""

import pathlib
import re

import dfs

PACKAGE = pathlib.Path(dfs.__file__).parent
BACKENDS = PACKAGE / "namenode" / "namespace"
DATABASE = re.compile(
    r"\bimport (sqlite3|psycopg\w*)|\bfrom (sqlite3|psycopg\w*) import|\.execute(many|script)?\("
    r"|\bSELECT .* FROM\b|\bINSERT (OR \w+ )?INTO\b|\b(CREATE|DROP|ALTER) (TABLE|INDEX|TRIGGER)\b|\bDELETE FROM\b"
    r"|\bUPDATE \w+ SET\b|\bPRAGMA\b")


def offences(root, backends):
    """'path:line: text' of each line under ``root``, outside ``backends``, that uses a database."""
    for source in sorted(root.rglob("*.py")):
        if backends in source.parents:
            continue
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            if DATABASE.search(line):
                yield f"{source.relative_to(root.parent)}:{number}: {line.strip()}"


def test_only_the_namespace_package_touches_a_database():
    assert list(offences(PACKAGE, BACKENDS)) == []


def test_the_check_finds_sql(tmp_path):
    """The grep is not vacuous: SQL or a driver in a module outside the namespace package is caught."""
    (tmp_path / "namenode" / "namespace").mkdir(parents=True)
    (tmp_path / "namenode" / "namespace" / "sqlite.py").write_text("import sqlite3\n")
    (tmp_path / "app.py").write_text("import sqlite3\nrows = db.execute('SELECT id FROM inodes')\n")
    (tmp_path / "plain.py").write_text("def execute(session, args):\n    return execute(session, args)\n")
    found = list(offences(tmp_path, tmp_path / "namenode" / "namespace"))
    assert [line.split(":")[1] for line in found] == ["1", "2"]
