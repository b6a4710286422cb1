"""Text in Arrow columns that may not be UTF-8, found by row and column.

Arrow's Parquet reader does not check that a string column holds UTF-8 (any writer that skips the
check can store other bytes there), and a binary column may hold text. Python decodes such values
only when one is converted, raising a ``UnicodeDecodeError`` that names neither file, row nor
column; the ingest reader and the scoring corpus check use these functions to name all three.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def _base(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


def is_text(kind: pa.DataType) -> bool:
    """Strings and binary values (plain, large or dictionary-encoded): columns read as text."""
    kind = _base(kind)
    return any(check(kind) for check in (pa.types.is_string, pa.types.is_large_string,
                                         pa.types.is_binary, pa.types.is_large_binary))


def _as_bytes(column: pa.Array | pa.ChunkedArray) -> list[bytes | None]:
    kind = _base(column.type)
    large = pa.types.is_large_string(kind) or pa.types.is_large_binary(kind)
    return column.cast(pa.large_binary() if large else pa.binary()).to_pylist()


def _decode(raw: bytes) -> str | int:
    """The text, or the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw[exc.start]


def problem(column: str, byte: int) -> str:
    return (f"column {column!r}: not UTF-8 text (byte 0x{byte:02x}); write the file again with that "
            "column as UTF-8 text (decode it from the encoding it was written in, e.g. "
            "bytes.decode('cp1252'))")


def first_not_utf8(column: pa.Array | pa.ChunkedArray) -> tuple[int, int] | None:
    """(row, its first byte that is not UTF-8) of the first such value in a text column, or None."""
    for row, raw in enumerate(_as_bytes(column)):
        if raw is not None and isinstance(found := _decode(raw), int):
            return row, found
    return None


def rows(batch: pa.RecordBatch) -> Iterator[dict | tuple[str, int]]:
    """The batch's rows as dicts with text columns as ``str``; a row holding a value that is not
    UTF-8 comes as (column, byte) instead, so the reader can report it and go on."""
    fields = list(batch.schema)
    text = {f.name for f in fields if is_text(f.type)}
    binary = any(not pa.types.is_string(_base(f.type)) and not pa.types.is_large_string(_base(f.type))
                 for f in fields if f.name in text)
    if not binary:
        try:  # the common case: one pass in C, then Arrow's own conversion
            batch.validate(full=True)
            yield from batch.to_pylist()
            return
        except pa.ArrowInvalid:
            pass
    columns = {f.name: _as_bytes(col) if f.name in text else col.to_pylist()
               for f, col in zip(fields, batch.columns)}
    for i in range(batch.num_rows):
        row = {}
        for name, values in columns.items():
            value = values[i]
            if name in text and value is not None:
                value = _decode(value)
                if isinstance(value, int):
                    yield name, value
                    break
            row[name] = value
        else:
            yield row
