"""A message corpus on disk: Parquet files found from paths, folders or globs, checked, then streamed.

``inspect`` reads every file once, a row group at a time, before anything is written: a corpus
that is truncated, corrupt, typed wrongly, holds text that is not UTF-8 (by row and column) or
duplicate message ids fails there with the file named and the fix. The scoring job then reads the
corpus again in ``Unit``s (a slice of ``chunk_rows`` rows of one row group), so memory stays flat
whatever the corpus size and a large single-row-group file still splits across processes.

The canonical columns and their types are ingest's corpus schema (``echoroom/ingest/schema.py``),
the one definition. Only ``message_id`` and ``text`` are required here, so any Parquet file with
those two scores; the other canonical columns are NULL where a corpus lacks them.
"""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from echoroom.ingest import arrow_text
from echoroom.ingest.schema import COLUMNS, SCHEMA

REQUIRED = ("message_id", "text")
# String columns that also accept integers (stored as strings); text must already be text.
STRINGLIKE = tuple(f.name for f in SCHEMA if pa.types.is_string(f.type) and f.name != "text")


class CorpusError(ValueError):
    """The corpus cannot be scored as given; the message names the file and the fix."""


def parse_columns(spec: str) -> dict[str, str]:
    """``"text=body,message_id=id"`` -> {canonical name: corpus column name}."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, sep, source = part.partition("=")
        if not sep or not source:
            raise CorpusError(f"--columns: {part!r} is not NAME=COLUMN (e.g. --columns text=body,message_id=id)")
        if name not in COLUMNS:
            raise CorpusError(f"--columns: {name!r} is not a canonical column; expected one of {', '.join(COLUMNS)}")
        mapping[name] = source
    return mapping


def _scoring_output(path: Path, exclude: tuple[Path, ...]) -> bool:
    """Whether ``path`` is (inside) one of ``exclude`` or a ``*.duckdb.work`` folder: a database's
    scoring work folder (its shards and ``done.parquet``), never corpus input."""
    if any(path == x or x in path.parents for x in exclude):
        return True
    return any(p.name.endswith(".duckdb.work") for p in path.parents)


def find_files(inputs: list[str], exclude: tuple[Path, ...] | list[Path] = ()) -> list[Path]:
    """Parquet files named by paths, folders (searched recursively) or globs, sorted, each once.

    Folder and glob searches leave out ``exclude`` (the run's database and work folder) and every
    ``*.duckdb.work`` folder, so a database kept inside the corpus folder never feeds its own shards
    back as corpus input; a file named outright there is an error."""
    skip = tuple(Path(x).resolve() for x in exclude)
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            matches = sorted(path.rglob("*.parquet"))
        elif path.is_file():
            if _scoring_output(path.resolve(), skip):
                raise CorpusError(f"input {item}: a scoring work file (shard) or the database, not corpus input; "
                                  "leave it out of the inputs")
            matches = [path]
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
        else:
            raise CorpusError(f"input {item}: no such file, folder or glob match; check the path")
        matches = [m for m in matches if not _scoring_output(m.resolve(), skip)]
        if not matches:
            raise CorpusError(f"input {item}: no .parquet files found there")
        found.extend(matches)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


@dataclass(frozen=True)
class CorpusFile:
    path: str
    size: int
    mtime_ns: int
    row_groups: tuple[int, ...]   # rows per row group
    rename: tuple[tuple[str, str], ...]  # (corpus column, canonical name)
    extras: tuple[str, ...]       # other columns, kept as JSON in messages.extra

    def identity(self) -> dict:
        return {"path": self.path, "size": self.size, "mtime_ns": self.mtime_ns}


@dataclass(frozen=True)
class Unit:
    """``chunk`` (0-based) of ``chunk_rows`` rows within one row group of one file."""
    file: int
    row_group: int
    chunk: int
    rows: int

    @property
    def name(self) -> str:
        return f"part-{self.file:05d}-{self.row_group:05d}-{self.chunk:05d}"


@dataclass
class Corpus:
    files: list[CorpusFile]
    ids: pa.Array  # every message id as strings, for the "already scored" lookup

    @property
    def rows(self) -> int:
        return sum(sum(f.row_groups) for f in self.files)

    def units(self, chunk_rows: int) -> list[Unit]:
        out = []
        for i, f in enumerate(self.files):
            for g, n in enumerate(f.row_groups):
                for k in range(math.ceil(n / chunk_rows)):
                    out.append(Unit(i, g, k, min(chunk_rows, n - k * chunk_rows)))
        return out


def _text_like(kind: pa.DataType) -> bool:
    """Strings as Arrow may hold them: plain, large, dictionary-encoded (polars' Categorical), or all null."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)


def _check_schema(path: Path, schema: pa.Schema, mapping: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    rename: dict[str, str] = {}
    for name in COLUMNS:
        source = mapping.get(name, name)
        if source in schema.names:
            rename[source] = name
        elif name in REQUIRED:
            hint = (f"map it with --columns {name}=COLUMN" if name not in mapping
                    else f"--columns maps {name} to {source!r}, which is not there")
            raise CorpusError(f"{path}: no {name!r} column ({hint}); columns found: {', '.join(schema.names)}")
    for source, name in rename.items():
        kind = schema.field(source).type
        label = name if source == name else f"{source!r} (used as {name})"
        if name == "text" and not _text_like(kind):
            raise CorpusError(f"{path}: column {label} is {kind}, expected string; cast it to string "
                              "or map the message text with --columns text=COLUMN")
        if name in STRINGLIKE and not (_text_like(kind) or pa.types.is_integer(kind)):
            raise CorpusError(f"{path}: column {label} is {kind}, expected string (integers are accepted "
                              "and stored as strings); cast it to string")
        if name == "sent_at" and not (pa.types.is_timestamp(kind) or pa.types.is_null(kind)):
            raise CorpusError(f"{path}: column {label} is {kind}, expected a timestamp; parse it first "
                              "(e.g. polars .str.to_datetime()), or map another column with --columns sent_at=COLUMN")
    extras = [c for c in schema.names if c not in rename]
    return rename, extras


def _check_text(path: Path, table: pa.Table, first_row: int) -> None:
    """Strings that are not UTF-8 stop here, by row and column: Arrow reads them unchecked, and
    they would otherwise fail mid-run as a ``UnicodeDecodeError`` naming no file."""
    try:
        table.validate(full=True)
    except pa.ArrowInvalid:
        for field in table.schema:
            found = arrow_text.is_text(field.type) and arrow_text.first_not_utf8(table.column(field.name))
            if found:
                raise CorpusError(f"{path}: row {first_row + found[0] + 1}, "
                                  f"{arrow_text.problem(field.name, found[1])}; or leave the file out of "
                                  "the inputs") from None
        raise  # invalid some other way: reported as an unreadable file


def inspect(inputs: list[str], columns: dict[str, str] | None = None, exclude: tuple[Path, ...] = ()) -> Corpus:
    """Find and check every file of the corpus, reading all of it once, a row group at a time;
    ``exclude``: the run's database and work folder (see ``find_files``)."""
    files: list[CorpusFile] = []
    ids: list[pa.Array] = []
    owners: list[pa.Array] = []  # file index per id, for naming files in the duplicate error
    for path in find_files(inputs, exclude):
        try:
            pf = pq.ParquetFile(path)
            rename, extras = _check_schema(path, pf.schema_arrow, columns or {})
            id_column = next(s for s, n in rename.items() if n == "message_id")
            groups = []
            for g in range(pf.num_row_groups):
                # Read every column, not just the ids: a corrupt page anywhere must fail here,
                # before the first shard or database row is written.
                table = pf.read_row_group(g)
                _check_text(path, table, sum(groups))
                got = table.column(id_column)
                if got.null_count:
                    raise CorpusError(f"{path}: {got.null_count} rows have no message_id (row group {g}); "
                                      "every message needs a unique id")
                ids.append(got.combine_chunks().cast(pa.string()))
                owners.append(pa.array([len(files)] * table.num_rows, pa.int32()))
                groups.append(table.num_rows)
        except CorpusError:
            raise
        except (pa.ArrowException, OSError) as exc:
            raise CorpusError(f"{path}: not a readable Parquet file ({exc}); it may be truncated or "
                              "corrupt: re-export or re-copy it, or leave it out of the inputs") from None
        stat = path.stat()
        files.append(CorpusFile(str(path), stat.st_size, stat.st_mtime_ns, tuple(groups),
                                tuple(rename.items()), tuple(extras)))
    all_ids = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
    _check_unique(files, all_ids, pa.concat_arrays(owners) if owners else pa.array([], pa.int32()))
    return Corpus(files, all_ids)


def _check_unique(files: list[CorpusFile], ids: pa.Array, owners: pa.Array, examples: int = 5) -> None:
    counts = pc.value_counts(ids)
    dup = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(dup) == 0:
        return
    lines = []
    for row in dup.to_pylist()[:examples]:
        where = pc.unique(owners.filter(pc.equal(ids, row["values"]))).to_pylist()
        lines.append(f"  {row['values']!r} x{row['counts']} in {', '.join(Path(files[i].path).name for i in where)}")
    raise CorpusError(f"{len(dup)} message_ids occur more than once in the corpus; each message must have "
                      "a unique id (drop the duplicates or fix the export). Examples:\n" + "\n".join(lines))


def read_units(corpus: Corpus, units: list[Unit], chunk_rows: int) -> Iterator[tuple[Unit, pa.Table]]:
    """Yield (unit, canonical table) for the given units, streaming each row group in chunks."""
    wanted = {(u.file, u.row_group, u.chunk): u for u in units}
    by_group: dict[tuple[int, int], int] = {}
    for u in units:
        by_group[(u.file, u.row_group)] = max(by_group.get((u.file, u.row_group), -1), u.chunk)
    for (fi, g), last in sorted(by_group.items()):
        f = corpus.files[fi]
        pf = pq.ParquetFile(f.path)
        batches = pf.iter_batches(batch_size=chunk_rows, row_groups=[g], use_threads=False)
        for k, batch in enumerate(batches):
            if (fi, g, k) in wanted:
                unit = wanted[(fi, g, k)]
                if batch.num_rows != unit.rows:
                    raise CorpusError(f"{f.path}: row group {g} chunk {k} has {batch.num_rows} rows, expected "
                                      f"{unit.rows}; the file changed during the run: run again")
                yield unit, canonical(f, batch)
            if k >= last:
                break


def canonical(f: CorpusFile, batch: pa.RecordBatch) -> pa.Table:
    """The batch with canonical column names and types, extra columns folded into JSON text."""
    rename = dict(f.rename)
    n = batch.num_rows
    cols = {}
    for field in SCHEMA:
        source = next((s for s, c in rename.items() if c == field.name), None)
        col = batch.column(source) if source is not None else pa.nulls(n)
        if pa.types.is_timestamp(field.type) and not pa.types.is_null(col.type):
            # Naive timestamps are read as UTC, the corpus convention (docs/DESIGN.md).
            tz = col.type.tz
            col = col.cast(pa.timestamp("us", tz=tz)) if tz else col.cast(pa.timestamp("us"))
            col = col.cast(field.type) if tz else pc.assume_timezone(col, "UTC")
        else:
            col = col.cast(field.type)
        cols[field.name] = col
    if f.extras:
        rows = batch.select(list(f.extras)).to_pylist()
        cols["extra"] = pa.array([json.dumps(r, default=str, ensure_ascii=False) for r in rows], pa.string())
    else:
        cols["extra"] = pa.nulls(n, pa.string())
    cols["source_file"] = pa.array([f.path] * n, pa.string())
    return pa.table(cols)
