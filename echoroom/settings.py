"""Settings: a frozen dataclass per stage, each field declared once with its default, its help and
the values it allows. Everything else is derived from the declarations, as datasette derives its
options from ``SETTINGS``: the jobs' ``--key=value`` parsing (``parse``), the options of the
``echoroom`` subcommands (``add_options``) and the pipeline config's keys (``echoroom.run.keys``).

As in nanoGPT, each override is checked against the type of its default and an unknown key is an
error; unlike nanoGPT nothing is exec'd into globals. Jobs print the effective settings and save
them (``asdict``) beside what they produce.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Mapping

_NAME = re.compile(r"\{(\w+)(=?)\}")


def setting(default, help: str, choices: tuple = ()):
    """A settings field: its default, what it means, and the values it allows (none: any)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": tuple(choices)})


def option(name: str) -> str:
    """A setting as the jobs spell it: ``--min_support``."""
    return f"--{name}"


def flag(name: str) -> str:
    """A setting as the ``echoroom`` subcommands spell it: ``--min-support``."""
    return "--" + name.replace("_", "-")


class SettingError(ValueError):
    """A setting that cannot be used, knowing which one.

    ``problem`` names settings as ``{name}``, and a setting with its value as ``{name=}``, so each
    front end says it its own way: ``--top=0: ...`` for a job or the CLI, ``report.top: top=0: ...``
    for a config file. The values are kept apart from the text, so a value holding braces is shown
    as given.
    """

    def __init__(self, key: str, problem: str, values: Mapping | object = ()):
        if dataclasses.is_dataclass(values):
            values = {f.name: getattr(values, f.name) for f in dataclasses.fields(values)}
        self.key, self.problem, self.values = key, problem, dict(values)
        super().__init__(self.said())

    def said(self, spell: Callable[[str], str] = option) -> str:
        """The message with every setting spelled by ``spell``."""
        return _NAME.sub(lambda m: spell(m[1]) + (f"={self.values.get(m[1])}" if m[2] else ""), self.problem)

    def __reduce__(self):  # an exception crossing a process boundary is rebuilt from these
        return type(self), (self.key, self.problem, self.values)


def help_of(field: dataclasses.Field) -> str:
    return field.metadata.get("help", "")


def choices_of(field: dataclasses.Field) -> tuple:
    return field.metadata.get("choices", ())


def check_choices(settings, error: type[SettingError] = SettingError) -> None:
    """Raise ``error`` for the first field whose value is not one of its declared choices."""
    for f in dataclasses.fields(settings):
        if choices_of(f) and getattr(settings, f.name) not in choices_of(f):
            raise error(f.name, f"{{{f.name}=}}: expected one of {', '.join(choices_of(f))}", settings)


def base_type(kind) -> type:
    """``int`` for ``int`` and for ``int | None``: the type a value is converted to."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def _optional(kind) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
BOOL_WORDS = TRUE_WORDS + FALSE_WORDS


def convert(key: str, raw: str, kind):
    """A ``--key=value`` text as the field's type."""
    if _optional(kind) and raw.lower() in ("none", "null", ""):
        return None
    kind = base_type(kind)
    if kind is bool:
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise SettingError(key, f"{{{key}=}}: expected true or false", {key: raw})
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise SettingError(key, f"{{{key}=}}: expected {kind.__name__} ({exc})", {key: raw}) from None


def parse(cls, argv: list[str]):
    """Build ``cls`` from ``--key=value`` arguments (``--key value`` also accepted)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, object] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print(usage(cls))
            raise SystemExit(0)
        if not arg.startswith("--"):
            raise ValueError(f"unexpected argument {arg!r}: settings are given as --key=value")
        key, sep, raw = arg[2:].partition("=")
        key = key.replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown setting --{key}; known: {', '.join(sorted(fields))}")
        if not sep:
            # A bare switch (``--emoji_only --epochs=2``) means true, as in every other CLI; it
            # used to swallow the next argument as its value and stop on "expected true or false".
            if base_type(hints[key]) is bool and (not args or args[0].lower() not in BOOL_WORDS):
                raw = "true"
            elif not args:
                raise ValueError(f"--{key} needs a value")
            else:
                raw = args.pop(0)
        values[key] = convert(key, raw, hints[key])
    return cls(**values)


def usage(cls) -> str:
    """Every setting of ``cls`` with its default and help, from the declarations alone (some
    settings classes cannot be built without a value, so there is no instance to describe)."""
    fields = dataclasses.fields(cls)
    width = max(len(f.name) + len(repr(f.default)) for f in fields) + 5
    lines = []
    for f in fields:
        choices = f" (one of: {', '.join(choices_of(f))})" if choices_of(f) else ""
        lines.append(f"  {f'--{f.name}={f.default!r}':<{width}} {help_of(f)}{choices}".rstrip())
    return "settings, as --key=value:\n" + "\n".join(lines)


def describe(settings) -> str:
    width = max(len(f.name) for f in dataclasses.fields(settings))
    return "\n".join(f"  {f.name:<{width}} = {getattr(settings, f.name)!r}"
                     for f in dataclasses.fields(settings))


def to_argv(settings) -> list[str]:
    """``--key=value`` arguments that ``parse`` turns back into the same settings."""
    return [f"--{f.name}={getattr(settings, f.name)}" for f in dataclasses.fields(settings)]


def to_json(settings) -> str:
    return json.dumps(dataclasses.asdict(settings), indent=2, default=str)


def add_options(parser: argparse.ArgumentParser, cls, required: tuple[str, ...] = (),
                positional: Mapping[str, str] | None = None) -> None:
    """One ``--name`` option per field of ``cls``, with its declared help and choices.

    Defaults stay in the dataclass: an option not given is left out of the namespace, and
    ``from_options`` lets the dataclass fill it in. ``positional`` maps a text field to a METAVAR
    taking one or more values, joined with commas (``echoroom score a.parquet b/``).
    """
    hints = typing.get_type_hints(cls)
    positional = positional or {}
    for f in dataclasses.fields(cls):
        kind = base_type(hints[f.name])
        shown = f.default not in (None, "", False) and f.name not in required
        text = (help_of(f) + (f" (default: {f.default})" if shown else "")).replace("%", "%%")
        if f.name in positional:
            parser.add_argument(f.name, nargs="+", metavar=positional[f.name], help=text)
        elif kind is bool:
            parser.add_argument(flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=text)
        else:
            parser.add_argument(flag(f.name), dest=f.name, type=kind, choices=choices_of(f) or None,
                                required=f.name in required, default=argparse.SUPPRESS, help=text,
                                metavar=None if choices_of(f) else f.name.upper())


def from_options(cls, args: argparse.Namespace):
    """The settings ``add_options`` parsed: the options given, the declared defaults for the rest."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{k: ",".join(v) if isinstance(v, list) else v for k, v in given.items()})
