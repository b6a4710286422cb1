"""The command line as a new user meets it: top-level help, error messages without placeholders,
`sql --list` holding only report queries with whole sentences, unset parameters meaning no filter,
the old ranking names still answering, and `score` quiet about loading weights off a terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from echoroom import catalog, cli, store

import report_fixtures as F
from helpers import rows


@pytest.fixture(scope="module")
def scored(tmp_path_factory, lens_root) -> Path:
    return F.scored_db(tmp_path_factory.mktemp("cli-db"), lens_root, F.corpus_rows(hostile=False))


def test_top_level_help_is_for_the_user(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "report where meaning shifts" in out and "typical flow:" in out
    assert "echoroom score corpus.parquet --db echoroom.duckdb" in out
    assert "parses its options here" not in out  # the module's docstring is for maintainers


def test_a_missing_database_names_itself_in_the_fix(tmp_path):
    missing = tmp_path / "nope.duckdb"
    with pytest.raises(FileNotFoundError, match=rf"`echoroom score CORPUS.parquet --db {re.escape(str(missing))}`"):
        store.connect(missing, read_only=True)


def test_list_holds_report_queries_with_whole_first_sentences(capsys):
    listed = catalog.saved()
    internal = {"insert_run", "insert_lens", "insert_messages", "insert_predictions", "finish_run", "schema",
                "macros", "report_scope", "shard_counts", "shard_skips", "shard_duplicates", "scored_ids",
                "run_status"}
    assert not internal & set(listed)
    assert {"shift_summary", "shift_matrix", "shifting_groups", "shift_terms", "misread_emotions"} <= set(listed)
    for name, sentence in listed.items():
        assert sentence.endswith("."), (name, sentence)
    assert listed["shifting_groups"].endswith("do not outrank three hundred of which most did.")
    assert cli.main(["sql", "--list"]) == 0
    out = capsys.readouterr().out
    assert "insert_run" not in out and "no filter" in out


def test_unset_parameters_mean_no_filter(scored):
    expected = rows(scored, "SELECT count(DISTINCT sender) FROM message_lenses")[0][0]
    for name, params in (("shifting_senders", {}), ("shifting_groups", {"dimension": "sender"})):
        columns, found = catalog.execute(scored, name, params=params)
        assert columns[0] == "name" and len(found) == expected, name
    from echoroom.report.terms import STOPWORDS

    _, every = catalog.execute(scored, "shift_terms")
    _, terms = catalog.execute(scored, "shift_terms", params={"stopwords": list(STOPWORDS)})
    assert terms and len(terms) < len(every)
    for term, *_ in terms:  # no stopword alone, no pair of them
        assert not all(word in STOPWORDS for word in term.split(" ")), term
    _, over_time = catalog.execute(scored, "shift_over_time")
    assert over_time  # per day, NULL grain or not


def test_score_off_a_terminal_prints_no_bars(tmp_path, lens_root, capfd):
    corpus = F.write_corpus(tmp_path / "corpus.parquet", F.corpus_rows(hostile=False)[:4])
    assert cli.main(["score", str(corpus), "--db", str(tmp_path / "db.duckdb"), "--lenses", str(lens_root),
                     "--work-dir", str(tmp_path / "work")]) == 0
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err and "msg/s]" not in captured.err
    assert re.search(r"finished in [\d.]+ s: 4 scored", captured.out)
