"""Job settings: a frozen dataclass per job, overridden by ``--key=value`` on the command line.

As in nanoGPT, each override is checked against the type of its default and an unknown key is an
error; unlike nanoGPT nothing is exec'd into globals. Jobs print the effective settings and save
them (``asdict``) beside what they produce.
"""

from __future__ import annotations

import dataclasses
import json
import typing


def _convert(key: str, raw: str, kind):
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"--{key}={raw}: expected true or false")
    if typing.get_origin(kind) is typing.Union or str(kind).startswith("typing.Optional") or " | " in str(kind):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw.lower() in ("none", "null", ""):
            return None
        kind = args[0] if args else str
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--{key}={raw}: expected {getattr(kind, '__name__', kind)} ({exc})") from None


def parse(cls, argv: list[str]):
    """Build ``cls`` from ``--key=value`` arguments (``--key value`` also accepted)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, object] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print(describe(cls()))
            raise SystemExit(0)
        if not arg.startswith("--"):
            raise ValueError(f"unexpected argument {arg!r}: settings are given as --key=value")
        key, sep, raw = arg[2:].partition("=")
        if not sep:
            if not args:
                raise ValueError(f"--{key} needs a value")
            raw = args.pop(0)
        key = key.replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown setting --{key}; known: {', '.join(sorted(fields))}")
        values[key] = _convert(key, raw, hints[key])
    return cls(**values)


def describe(settings) -> str:
    width = max(len(f.name) for f in dataclasses.fields(settings))
    return "\n".join(f"  {f.name:<{width}} = {getattr(settings, f.name)!r}"
                     for f in dataclasses.fields(settings))


def to_argv(settings) -> list[str]:
    """``--key=value`` arguments that ``parse`` turns back into the same settings."""
    return [f"--{f.name}={getattr(settings, f.name)}" for f in dataclasses.fields(settings)]


def to_json(settings) -> str:
    return json.dumps(dataclasses.asdict(settings), indent=2, default=str)
