"""The scoring path end to end on small real corpora: one process, two under accelerate launch,
a process killed mid-run, incremental re-runs, new lens versions and every kind of bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from echoroom.ingest import SCHEMA, ingest
from echoroom.lenses import default_lens_folders
from echoroom.lenses.model import LensSet
from echoroom.scoring import corpus
from echoroom.scoring import run as scoring_run
from echoroom.scoring import scorer as scoring
from echoroom.scoring.settings import ScoreSettings
from jobs import score as job

from helpers import assert_exactly_once, js_reference, rows, write_corpus

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "fixtures" / "exports"


@pytest.fixture(scope="module")
def lenses(lens_root):
    return LensSet(default_lens_folders(lens_root))


def scorer_precision() -> str:
    """What the job's default precision ("auto") is on this machine."""
    return scoring.resolve_precision("auto")


def run_job(lens_root, db, *inputs, **settings) -> dict:
    argv = [f"--inputs={','.join(map(str, inputs))}", f"--db={db}", f"--lenses={lens_root}", "--progress=false"]
    argv += [f"--{k}={v}" for k, v in settings.items()]
    return job.main(argv)


def job_command(lens_root, db, *inputs, **settings) -> list[str]:
    return [f"--inputs={','.join(map(str, inputs))}", f"--db={db}", f"--lenses={lens_root}",
            "--progress=false", *[f"--{k}={v}" for k, v in settings.items()]]


# --- the scorer ---------------------------------------------------------------------------

def test_scorer_matches_plain_predict(lenses):
    texts = ["ok", "I am so happy for you!!", "ok", "this is terrible " * 80, "", "lol"]
    probs, n_tokens, cut = scoring.Scorer(lenses, batch_tokens=256).read(texts)
    want = lenses.predict(texts)
    for name in lenses.outputs:  # distributions and scales alike
        np.testing.assert_allclose(probs[name], want[name], atol=2e-5)
    assert cut.tolist() == [False, False, False, True, False, False]
    assert n_tokens[3] == lenses.max_length and n_tokens[0] == n_tokens[2] == 3


def test_batches_respect_the_token_budget(lenses):
    scorer = scoring.Scorer(lenses, batch_tokens=40, max_batch=3)
    lengths = np.array([5, 30, 7, 12, 3, 9, 40])
    batches = scorer.batches(lengths)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    for b in batches:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * lengths[b].max() <= 40)


def test_null_and_empty_text_are_skipped_with_a_reason(lenses):
    table = pa.table({"message_id": ["a", "b", "c"], "text": [None, "  \n", "fine"]})
    out = scoring.predict_table(scoring.Scorer(lenses), table).to_pydict()
    assert out["status"] == ["skipped", "skipped", "scored"]
    assert out["skip_reason"] == ["null text", "empty text", None]
    assert out["author_probs"][0] is None and len(out["reader_probs"][2]) == 10


def test_text_of_only_invisible_characters_is_skipped_like_whitespace(lenses):
    texts = ["\u200b\u200c\u200d", "\ufeff", " \ufffd\n", "\u2060\t\u200b", "ok\u200b"]
    table = pa.table({"message_id": list("abcde"), "text": texts})
    out = scoring.predict_table(scoring.Scorer(lenses), table).to_pydict()
    assert out["skip_reason"] == ["empty text"] * 4 + [None]
    assert out["status"][-1] == "scored" and out["author_probs"][0] is None


LANGUAGE_LINES = ["Ich komme heute etwas später nach Hause", "¿Dónde estás? Te estamos esperando",
                  "see you at the station in ten minutes", "ok", "lol", "😂😂"]


def test_other_languages_are_skipped_but_short_and_emoji_lines_are_scored(lenses):
    table = pa.table({"message_id": list("abcdef"), "text": LANGUAGE_LINES})
    out = scoring.predict_table(scoring.Scorer(lenses), table).to_pydict()
    assert out["language"] == ["de", "es", "en", "und", "und", "und"]
    assert out["status"] == ["skipped", "skipped", "scored", "scored", "scored", "scored"]
    assert out["skip_reason"] == ["language de", "language es", None, None, None, None]
    assert out["author_emotion"][:2] == [None, None] and out["n_tokens"][:2] == [None, None]
    assert all(len(p) == 10 for p in out["reader_probs"][2:])
    # With German among the lenses' languages, only the Spanish line is left out.
    both = scoring.predict_table(scoring.Scorer(lenses, languages=("en", "de")), table).to_pydict()
    assert both["skip_reason"][:2] == [None, "language es"]


# --- the corpus: ingest's schema, read in units -------------------------------------------

def test_units_read_as_ingests_schema_whatever_the_corpus_holds(tmp_path):
    ingest([EXPORTS / "slack"], tmp_path / "slack.parquet")
    minimal = bad(tmp_path, pa.table({"message_id": [1, 2], "text": ["hi", "yo"], "lang": ["en", "de"],
                                      "platform": pa.array(["a", None]).dictionary_encode()}), "min.parquet")
    tables = {}
    for path in (tmp_path / "slack.parquet", minimal):
        found = corpus.inspect([str(path)])
        tables[path.stem] = pa.concat_tables(t for _, t in corpus.read_units(found, found.units(4), 4))
    for table in tables.values():
        assert table.schema.names == [*SCHEMA.names, "extra", "source_file"]
        assert [table.schema.field(f.name).type for f in SCHEMA] == SCHEMA.types
    slack, minimal = tables["slack"].to_pydict(), tables["min"].to_pydict()
    assert set(slack["platform"]) == {"slack"} and slack["reply_to"][1] == slack["message_id"][0]
    assert slack["extra"] == [None] * 5  # every column ingest writes is canonical now
    assert minimal["message_id"] == ["1", "2"] and minimal["reply_to"] == [None, None]
    assert minimal["platform"] == ["a", None]  # a Categorical column is text too
    assert minimal["extra"] == ['{"lang": "en"}', '{"lang": "de"}']


# --- bad input: a clear error before anything is written -----------------------------------

def bad(tmp_path, table: pa.Table, name="bad.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("table, columns, message", [
    (pa.table({"message_id": ["a"], "body": ["hi"]}), {},
     r"bad.parquet: no 'text' column \(map it with --columns text=COLUMN\)"),
    (pa.table({"message_id": ["a"], "text": ["hi"]}), {"text": "body"},
     r"--columns maps text to 'body', which is not there"),
    (pa.table({"id": ["a"], "text": ["hi"]}), {}, r"no 'message_id' column"),
    (pa.table({"message_id": ["a"], "text": [3]}), {}, r"column text is int64, expected string; cast it"),
    (pa.table({"message_id": ["a"], "text": ["hi"], "sent_at": ["2024-01-01"]}), {},
     r"sent_at is string, expected a timestamp; parse it"),
    (pa.table({"message_id": [1.5], "text": ["hi"]}), {}, r"message_id is double, expected string"),
    (pa.table({"message_id": ["a", None], "text": ["hi", "yo"]}), {}, r"1 rows have no message_id"),
])
def test_bad_columns(tmp_path, table, columns, message):
    path = bad(tmp_path, table)
    with pytest.raises(corpus.CorpusError, match=message):
        corpus.inspect([str(path)], columns)


def test_truncated_parquet(tmp_path):
    path = write_corpus(tmp_path / "cut.parquet", 50)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(corpus.CorpusError,
                       match=r"cut.parquet: not a readable Parquet file .* truncated or corrupt: re-export"):
        corpus.inspect([str(path)])


def test_corrupt_page_inside_a_valid_file(tmp_path):
    path = write_corpus(tmp_path / "corrupt.parquet", 200)
    data = bytearray(path.read_bytes())
    # Scramble bytes in the middle of the column data: the footer still parses.
    data[200:1200] = bytes((b * 7 + 13) % 256 for b in data[200:1200])
    path.write_bytes(bytes(data))
    with pytest.raises(corpus.CorpusError, match=r"corrupt.parquet: not a readable Parquet file"):
        corpus.inspect([str(path)])


def test_duplicate_ids_are_listed_with_their_files(tmp_path):
    write_corpus(tmp_path / "c" / "a.parquet", 30)
    write_corpus(tmp_path / "c" / "b.parquet", 30, start=25)
    with pytest.raises(corpus.CorpusError,
                       match=r"5 message_ids occur more than once(.|\n)*'m0000025' x2 in a.parquet, b.parquet"):
        corpus.inspect([str(tmp_path / "c")])


def test_missing_inputs_and_bad_mapping(tmp_path):
    with pytest.raises(corpus.CorpusError, match=r"nothere.parquet: no such file"):
        corpus.find_files([str(tmp_path / "nothere.parquet")])
    with pytest.raises(corpus.CorpusError, match=r"no .parquet files found"):
        corpus.find_files([str(tmp_path / "*.parquet")])
    with pytest.raises(corpus.CorpusError, match=r"'txt' is not a canonical column"):
        corpus.parse_columns("txt=body")


def test_bad_input_writes_nothing(tmp_path, lens_root):
    path = bad(tmp_path, pa.table({"message_id": ["a"], "body": ["hi"]}))
    db = tmp_path / "out.duckdb"
    with pytest.raises(corpus.CorpusError, match="no 'text' column"):
        run_job(lens_root, db, path)
    assert not db.exists() and not Path(f"{db}.work").exists()


def test_world_size_is_checked(tmp_path, lens_root):
    path = write_corpus(tmp_path / "c.parquet", 5)
    with pytest.raises(SystemExit, match=r"started 1 process\(es\) but --processes=2"):
        run_job(lens_root, tmp_path / "x.duckdb", path, processes=2)


# --- runs ----------------------------------------------------------------------------------

def test_one_process_run_stores_everything(tmp_path, lens_root, lenses):
    n = 120
    cols = {"lang": ["en"] * n, "reactions": list(range(n))}
    path = write_corpus(tmp_path / "c.parquet", n, row_group_size=50, **cols)
    table = pq.read_table(path)
    texts = table.column("text").to_pylist()
    texts[3], texts[7] = None, "   "
    renamed = table.set_column(table.schema.get_field_index("text"), "body", pa.array(texts))
    pq.write_table(renamed, path, row_group_size=50)

    # fp32: its probabilities are the model's to float rounding, whatever the batches (bf16's are
    # within 0.03 of them: tests/test_fast_path.py).
    counts = run_job(lens_root, tmp_path / "db.duckdb", path, columns="text=body", chunk_rows=32, precision="fp32")
    db = tmp_path / "db.duckdb"
    assert counts["scored"] == n - 2 and counts["skipped"] == 2 and counts["inserted"] == 2 * n
    assert_exactly_once(db, n, skipped=2)
    assert rows(db, "SELECT skip_reason FROM predictions WHERE lens = 'author' AND status = 'skipped' "
                    "ORDER BY message_id") == [("null text",), ("empty text",)]
    assert rows(db, "SELECT extra->>'lang', (extra->>'reactions')::INT FROM messages "
                    "WHERE message_id = 'm0000005'") == [("en", 5)]
    assert rows(db, "SELECT count(*) FROM message_lenses") == [(n - 2,)]
    run = rows(db, "SELECT status, processes, json_extract_string(settings, '$.columns'), author_version, "
                   "reader_version FROM runs")
    assert run == [("finished", 1, "text=body", *lenses.versions.values())]
    assert rows(db, "SELECT count(*) FROM lenses") == [(2,)]
    assert not Path(f"{db}.work").exists() or not any(Path(f"{db}.work").iterdir())

    # Stored probabilities are the model's, and the view's divergence is the numpy one.
    got = rows(db, "SELECT message_id, text, author_probs, reader_probs, js_divergence, shifted FROM "
                   "(SELECT *, [author_joy, author_anger, author_sadness, author_fear, author_surprise, "
                   "author_disgust, author_love, author_gratitude, author_neutral, author_pride] AS author_probs, "
                   "[reader_joy, reader_anger, reader_sadness, reader_fear, reader_surprise, reader_disgust, "
                   "reader_love, reader_gratitude, reader_neutral, reader_pride] AS reader_probs "
                   "FROM message_lenses) ORDER BY message_id")
    want = lenses.predict([g[1] for g in got])
    a, r = np.array([g[2] for g in got], np.float32), np.array([g[3] for g in got], np.float32)
    np.testing.assert_allclose(a, want["author"], atol=2e-5)
    np.testing.assert_allclose(r, want["reader"], atol=2e-5)
    np.testing.assert_allclose([g[4] for g in got], js_reference(a, r), atol=1e-12)
    # shifted is the shift score against its threshold; the kind follows the two top emotions
    kinds = rows(db, "SELECT shift_kind, shifted, shift_score >= 0.6 FROM message_lenses ORDER BY message_id")
    assert [k[0] != "none" for k in kinds] == (a.argmax(1) != r.argmax(1)).tolist()
    assert all(k[1] == k[2] for k in kinds)


def test_an_ingested_corpus_keeps_replies_and_platform_beside_a_minimal_one(tmp_path, lens_root):
    ingest([EXPORTS / "slack"], tmp_path / "c" / "slack.parquet")
    bad(tmp_path / "c", pa.table({"message_id": ["p1", "p2"], "text": ["so glad", "ugh"]}), "plain.parquet")
    db = tmp_path / "db.duckdb"
    assert run_job(lens_root, db, tmp_path / "c")["scored"] == 7
    got = rows(db, "SELECT m.text, m.platform, p.text FROM message_lenses m "
                   "LEFT JOIN message_lenses p ON p.message_id = m.reply_to ORDER BY m.sent_at NULLS LAST, m.text")
    assert got[:2] == [("Welcome @Ben Brook! Release notes are in the wiki & the deck", "slack", None),
                       ("thanks!! so glad to be here", "slack",
                        "Welcome @Ben Brook! Release notes are in the wiki & the deck")]
    assert [g[1] for g in got] == ["slack"] * 5 + [None, None]
    assert rows(db, "SELECT count(*) FROM messages WHERE extra IS NOT NULL") == [(0,)]


def test_a_run_stores_each_language_and_counts_what_it_left_out(tmp_path, lens_root, newer_lens_root, capsys):
    texts = [*LANGUAGE_LINES, "Das Essen war wirklich sehr lecker, vielen Dank!"]
    ids = [f"m{i}" for i in range(len(texts))]
    path = bad(tmp_path, pa.table({"message_id": ids, "text": texts}), "c.parquet")
    db = tmp_path / "db.duckdb"
    counts = run_job(lens_root, db, path)
    assert counts["scored"] == 4 and counts["skipped"] == 3
    assert counts["skipped_language"] == {"de": 2, "es": 1}
    assert "3 skipped (3 in other languages: 2 de, 1 es)" in capsys.readouterr().out
    languages = ["de", "es", "en", "und", "und", "und", "de"]
    assert rows(db, "SELECT message_id, language FROM messages ORDER BY message_id") == list(zip(ids, languages))
    assert rows(db, "SELECT message_id, language FROM message_lenses ORDER BY message_id") == [
        ("m2", "en"), ("m3", "und"), ("m4", "und"), ("m5", "und")]
    assert rows(db, "SELECT skip_reason, count(*) FROM predictions WHERE status = 'skipped' GROUP BY 1 "
                    "ORDER BY 1") == [("language de", 4), ("language es", 2)]
    assert rows(db, "SELECT counts->>'$.skipped_language.de' FROM runs") == [("2",)]

    # Messages stored before language detection have none: a new lens version's run fills it in.
    con = duckdb.connect(str(db))
    con.execute("UPDATE messages SET language = NULL")
    con.close()
    assert run_job(newer_lens_root, db, path)["skipped_language"] == {"de": 2, "es": 1}
    assert rows(db, "SELECT message_id, language FROM messages ORDER BY message_id") == list(zip(ids, languages))


def test_incremental_rerun_and_new_versions(tmp_path, lens_root, newer_lens_root):
    db = tmp_path / "db.duckdb"
    first = write_corpus(tmp_path / "c" / "day1.parquet", 60)
    run_job(lens_root, db, tmp_path / "c")
    again = run_job(lens_root, db, tmp_path / "c")
    assert again["scored"] == 0 and again["already_scored"] == 60 and again["inserted"] == 0
    write_corpus(tmp_path / "c" / "day2.parquet", 40, seed=1, start=60)
    grown = run_job(lens_root, db, tmp_path / "c")
    assert grown["scored"] == 40 and grown["already_scored"] == 60 and grown["inserted"] == 80
    assert_exactly_once(db, 100)
    assert rows(db, "SELECT count(DISTINCT run_id) FROM predictions") == [(2,)]

    # Another precision is the same lenses: nothing to score again.
    other = run_job(lens_root, db, tmp_path / "c", precision="fp32" if scorer_precision() == "bf16" else "bf16")
    assert other["scored"] == 0 and other["already_scored"] == 100

    # A new lens version (here recalibrated lenses) is a new run beside the old predictions.
    newer = run_job(newer_lens_root, db, first)
    assert newer["scored"] == 60 and newer["already_scored"] == 0
    old = LensSet(default_lens_folders(lens_root)).versions
    new = LensSet(default_lens_folders(newer_lens_root)).versions
    versions = rows(db, "SELECT lens_version, count(*) FROM predictions GROUP BY 1 ORDER BY 1")
    assert sorted(versions) == sorted([(old["author"], 100), (new["author"], 60), (old["reader"], 100),
                                       (new["reader"], 60)])
    assert rows(db, "SELECT count(*), min(author_version), min(reader_version) FROM message_lenses") == [
        (60, new["author"], new["reader"])]
    assert rows(db, "SELECT count(*), count(*) FILTER (WHERE status = 'finished') FROM runs") == [(5, 5)]


def test_killed_run_resumes_exactly_once(tmp_path, lens_root):
    n = 200
    path = write_corpus(tmp_path / "c.parquet", n, row_group_size=64)
    db = tmp_path / "db.duckdb"
    argv = job_command(lens_root, db, path, chunk_rows=8, threads=1)
    proc = subprocess.Popen([sys.executable, "-m", "jobs.score", *argv], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = Path(f"{db}.work")
    deadline = time.time() + 120
    while time.time() < deadline and len(list(work.glob("*/part-*.parquet"))) < 3:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    shards = len(list(work.glob("*/part-*.parquet")))
    assert 3 <= shards < 25, "the kill did not land mid-run"
    assert rows(db, "SELECT status FROM runs") == [("running",)]
    assert rows(db, "SELECT count(*) FROM predictions") == [(0,)]

    done = subprocess.run([sys.executable, "-m", "jobs.score", *argv], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{25 - shards} of 25 units to do" in done.stdout
    assert_exactly_once(db, n)
    run = rows(db, "SELECT status, (counts->>'scored')::INT FROM runs")
    assert run == [("finished", n)], "the resumed run must finish the same run row"


SERVICE_ONLY_TELEGRAM = {"name": "Quiet", "type": "private_group", "id": 4000000009, "messages": [
    {"id": 1, "type": "service", "date": "2024-01-15T09:00:00", "date_unixtime": "1705305600", "actor": "Ana",
     "actor_id": "user1", "action": "create_group", "title": "Quiet", "members": ["Ana"], "text": "",
     "text_entities": []}]}


def test_an_empty_corpus_is_a_clean_no_op(tmp_path, lens_root, capsys):
    # A Telegram export of service messages only ingests to a corpus with the columns and 0 rows.
    export = tmp_path / "tg" / "result.json"
    export.parent.mkdir()
    export.write_text(json.dumps(SERVICE_ONLY_TELEGRAM))
    assert ingest([export.parent], tmp_path / "c.parquet").written == 0
    db = tmp_path / "db.duckdb"
    for attempt in (1, 2):
        counts = run_job(lens_root, db, tmp_path / "c.parquet")
        assert counts["messages"] == counts["scored"] == counts["inserted"] == 0
        assert "nothing to score: 0 messages in 1 files" in capsys.readouterr().out
        # Each run is recorded as finished with zero counts, like a re-run with nothing new.
        assert rows(db, "SELECT status, (counts->>'messages')::INT FROM runs") == [("finished", 0)] * attempt
    assert rows(db, "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM predictions)") == [(0, 0)]
    assert not any(Path(f"{db}.work").iterdir())


def test_folder_searches_leave_out_the_database_and_work_folders(tmp_path):
    folder = tmp_path / "c"
    write_corpus(folder / "a.parquet", 5)
    write_corpus(folder / "db.duckdb.work" / "0123" / "part-00000-00000-00000.parquet", 5)  # default work folder
    write_corpus(folder / "shards" / "0123" / "done.parquet", 5)                              # --work-dir=c/shards
    (folder / "db.duckdb").write_bytes(b"")
    exclude = (folder / "db.duckdb", folder / "shards")
    assert corpus.find_files([str(folder)], exclude) == [(folder / "a.parquet").resolve()]
    assert corpus.find_files([str(folder / "**" / "*.parquet")], exclude) == [(folder / "a.parquet").resolve()]
    with pytest.raises(corpus.CorpusError, match=r"done.parquet: a scoring work file \(shard\) or the database"):
        corpus.find_files([str(folder / "shards" / "0123" / "done.parquet")], exclude)
    with pytest.raises(corpus.CorpusError, match=r"shards: no .parquet files found there"):
        corpus.find_files([str(folder / "shards")], exclude)


def test_a_database_inside_the_corpus_folder_resumes_exactly_once(tmp_path, lens_root, lenses, capsys):
    from accelerate import PartialState

    n, folder = 60, tmp_path / "c"
    write_corpus(folder / "c.parquet", n)
    db = folder / "db.duckdb"
    # An interrupted run, as a kill leaves it: a `running` row and 3 of 8 shards in c/db.duckdb.work/<key>/.
    settings = ScoreSettings(inputs=str(folder), db=str(db), lenses=str(lens_root), chunk_rows=8, progress=False)
    scorer = scoring.Scorer(lenses)
    plan = scoring_run.plan_run(settings, PartialState(cpu=True), scorer, db, Path(f"{db}.work"), "{}")
    plan.todo = plan.todo[:3]
    scoring_run.score_units(plan, scorer, 0, 1, False)
    assert len(list(folder.glob("db.duckdb.work/*/part-*.parquet"))) == 3
    assert rows(db, "SELECT status FROM runs") == [("running",)]

    counts = run_job(lens_root, db, folder, chunk_rows=8)
    assert "5 of 8 units to do" in capsys.readouterr().out
    assert counts["scored"] == n
    assert_exactly_once(db, n)
    assert rows(db, "SELECT status, (counts->>'scored')::INT FROM runs") == [("finished", n)]


def test_two_processes_under_accelerate_launch_match_one(tmp_path, lens_root):
    n = 150
    path = write_corpus(tmp_path / "c.parquet", n, row_group_size=100)
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    run_job(lens_root, one, path, chunk_rows=40)
    cmd = job.launch_command(2, job_command(lens_root, two, path, chunk_rows=40))
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "on 2 process(es)" in out.stdout
    assert_exactly_once(two, n)
    assert rows(two, "SELECT processes FROM runs") == [(2,)]
    sql = "SELECT message_id, lens, emotion, labels, probs, status FROM predictions ORDER BY message_id, lens"
    a, b = rows(one, sql), rows(two, sql)
    assert [r[:4] + r[5:] for r in a] == [r[:4] + r[5:] for r in b]
    np.testing.assert_allclose(np.array([r[4] for r in a]), np.array([r[4] for r in b]), atol=1e-6)
