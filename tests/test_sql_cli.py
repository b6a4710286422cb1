"""`echoroom sql` on the demo database the pipeline writes: saved queries by name with bound
parameters, ad-hoc read-only SQL, and every code block of docs/sql-examples.md, run as written."""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path

import pytest

from echoroom import catalog, cli
from echoroom.run import config, pipeline

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = (ROOT / "docs" / "sql-examples.md").read_text()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory, lens_root) -> Path:
    """A folder holding out/demo/echoroom.duckdb, made by the real pipeline on the demo chats."""
    folder = tmp_path_factory.mktemp("sqldemo")
    mp = pytest.MonkeyPatch()
    mp.chdir(folder)
    mp.setenv("ECHOROOM_LENSES", str(lens_root))
    try:
        code, _ = pipeline.run(config.demo(), logging.getLogger("test.sql"))
    finally:
        mp.undo()
    assert code == pipeline.Exit.OK
    return folder


@pytest.fixture
def in_demo(demo_dir, monkeypatch) -> Path:
    monkeypatch.chdir(demo_dir)  # the docs use the default --db, out/demo/echoroom.duckdb
    return demo_dir


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", EXAMPLES, re.S)


def test_list_shows_every_report_query_with_its_first_sentence(in_demo, capsys):
    assert cli.main(["sql", "--list"]) == 0
    out = capsys.readouterr().out
    listed = catalog.saved()
    assert "shift_summary" in listed and "insert_run" not in listed and "schema" not in listed
    for name in listed:
        assert re.search(rf"^{name} ", out, re.M)
    assert re.search(r"^shift_summary +one row of headline figures for the messages in scope\.$", out, re.M)
    assert not re.search(r"^insert_run ", out, re.M)  # internal statements are not offered


def test_saved_query_with_bound_parameters(in_demo, capsys):
    assert cli.main(["sql", "shifting_groups", "--param", "dimension=sender", "--param", "min_support=3",
                     "--param", "limit=2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("|")[1].strip() == "name" and lines[-1] == "(2 rows)"  # a Markdown table
    db = in_demo / "out" / "demo" / "echoroom.duckdb"
    columns, rows = catalog.execute(db, "shifting_groups", params={"dimension": "sender", "min_support": 3,
                                                                   "limit": 2})
    assert len(rows) == 2 and columns[0] == "name"
    # A message text is a value, never SQL: a hostile filter matches nothing and changes nothing.
    _, none = catalog.execute(db, "shift_summary", params={"sender": "'; DROP TABLE messages; --"})
    assert none[0][0] == 0
    assert catalog.execute(db, sql="SELECT count(*) FROM messages")[1] == [(329,)]


def test_adhoc_sql_is_read_only(in_demo, capsys):
    assert cli.main(["sql", "--sql", "DELETE FROM messages"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert cli.main(["sql", "--csv", "--sql", "SELECT count(*) AS n FROM message_lenses"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "329"]


@pytest.mark.parametrize("sql, match", [
    ("COPY (SELECT * FROM messages) TO '{dir}/leak.csv'", r'Cannot access file ".*leak.csv" - file system operations'),
    ("EXPORT DATABASE '{dir}/leak'", r'Cannot access (file|directory) ".*leak.*" - file system operations'),
    ("SELECT * FROM read_csv('/etc/passwd')", r'Cannot access file "/etc/passwd" - file system operations'),
    ("INSTALL httpfs", r"file system operations are disabled by configuration"),
    ("LOAD httpfs", r"Loading external extensions is disabled"),
    ("SET enable_external_access = true", r'Cannot change configuration option "enable_external_access"'),
])
def test_adhoc_sql_cannot_touch_the_machine(in_demo, tmp_path, capsys, sql, match):
    """External access is off and locked: no file written or read outside the database, no extension."""
    assert cli.main(["sql", "--sql", sql.format(dir=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"^error: \w+Exception in the SQL", err) and re.search(match, err)
    assert list(tmp_path.iterdir()) == []
    # The saved queries still get the macros of queries/macros.sql, defined before the lock.
    assert cli.main(["sql", "shift_summary"]) == 0


@pytest.mark.parametrize("argv, match", [
    (["no_such_query"], r"no query named 'no_such_query'"),
    (["shift_summary", "--param", "nope"], r"--param expects NAME=VALUE, got 'nope'"),
    (["shift_summary", "--param", "limt=3"], r"queries/shift_summary.sql takes no parameter limt; it takes: channel"),
    (["--sql", "SELECT * FROM no_table"], r"CatalogException in the SQL"),
    (["--db", "missing.duckdb", "shift_summary"], r"missing.duckdb does not exist"),
    (["shifting_groups", "--param", "min_support=1"], r"dimension must be 'conversation', 'channel' or 'sender' "),
    (["shifting_groups", "--param", "min_support=1", "--param", "dimension=team"],
     r"dimension must be .*\(echoroom sql: --param dimension=sender\), got 'team'"),
])
def test_errors_say_what_to_fix(in_demo, capsys, argv, match):
    assert cli.main(["sql", *argv]) == 2
    assert re.search(match, capsys.readouterr().err)


def test_name_and_sql_are_exclusive(in_demo, capsys):
    assert cli.main(["sql", "shift_summary", "--sql", "SELECT 1"]) == 2
    assert "not both" in capsys.readouterr().err


def test_every_sql_example_runs(in_demo):
    sql_blocks = blocks("sql")
    assert len(sql_blocks) >= 8
    answered = 0
    for sql in sql_blocks:
        columns, rows = catalog.execute("out/demo/echoroom.duckdb", sql=sql)
        assert columns, sql
        answered += bool(rows)
    # Some examples filter on what the lenses predict, which changes when they are retrained, so
    # an empty answer is allowed; most must still find something in the demo chats.
    assert answered >= len(sql_blocks) - 2


def test_every_console_example_runs(in_demo, capsys):
    commands = [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ ")]
    assert len(commands) >= 4
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "echoroom"
        assert cli.main(argv[1:]) == 0, command
        assert capsys.readouterr().out.strip(), command


def test_the_python_example_runs(in_demo, capsys):
    (code,) = blocks("python")
    exec(compile(code, "docs/sql-examples.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("[(") and "Kai" in printed  # per-sender rates of the demo chats
