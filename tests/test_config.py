"""The pipeline config: every key documented, the shipped example and the demo valid, and each kind
of mistake stopped with the file and the key named."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from echoroom.run import config, keys
from echoroom.run.config import ConfigError
from echoroom.run.pipeline import Exit

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
MINIMAL = '[[inputs]]\npaths = ["chats/*.txt"]\ncorpus = "corpus.parquet"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "echoroom.toml"
    path.write_text(text)
    return path


def test_every_key_is_documented_as_declared():
    assert keys.reference_table() in OPERATIONS, \
        "docs/operations.md's key table differs from echoroom.run.keys.KEYS: paste reference_table() in"
    for key in keys.KEYS:
        assert f"`{key.name}` |" in OPERATIONS


def test_every_exit_code_is_documented():
    for code in Exit:
        assert re.search(rf"^\| {int(code)} \| {code.name.lower()} \|", OPERATIONS, re.M), code


def test_report_and_scoring_defaults_come_from_their_settings():
    from echoroom.report.settings import ReportSettings
    from echoroom.scoring.settings import ScoreSettings as Settings

    for key in keys.KEYS:
        if key.section in ("report", "scoring"):
            owner = ReportSettings if key.section == "report" else Settings
            assert key.default == owner.__dataclass_fields__[key.name].default, key.dotted


def test_the_example_config_validates(monkeypatch):
    monkeypatch.setenv("ECHOROOM_PSEUDONYM_KEY", "a long random secret for the test")
    cfg = config.load(ROOT / "examples" / "echoroom.toml")
    examples = ROOT / "examples"
    assert cfg.database == examples / "data" / "echoroom.duckdb"
    assert cfg.lock_path == examples / "data" / "echoroom.duckdb.lock"
    assert [i.corpus.name for i in cfg.inputs] == ["whatsapp.parquet", "slack.parquet"]
    assert cfg.inputs[0].options.timezone == "Europe/London" and cfg.inputs[0].options.pseudonymize_key
    assert cfg.report.days == 7 and cfg.email["mode"] == "send" and cfg.smtp["port"] == 587
    # Every key the example sets is a declared key (it documents the config by example).
    declared = {k.name for k in keys.KEYS}
    text = (examples / "echoroom.toml").read_text()
    assert set(re.findall(r"^(\w+) =", text, re.M)) <= declared


def test_demo_config_points_at_the_shipped_chats(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = config.demo()
    assert cfg.database == tmp_path / "out" / "demo" / "echoroom.duckdb"
    assert cfg.inputs[0].corpus == tmp_path / "out" / "demo" / "corpus.parquet"
    assert cfg.output_dir == tmp_path / "out" / "demo" and cfg.email["mode"] == "dry-run"
    assert len(list(Path(cfg.inputs[0].paths[0]).parent.glob("*.txt"))) == 3


def test_defaults_and_relative_paths(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL))
    assert cfg.database == tmp_path / "echoroom.duckdb"
    assert cfg.state_dir == tmp_path / "echoroom.duckdb.state"
    assert cfg.inputs[0].paths == (str(tmp_path / "chats" / "*.txt"),)
    assert cfg.scoring.processes == 1 and cfg.report.top == 10 and cfg.log_file is None
    assert cfg.email == {"mode": "dry-run", "recipients": [], "sender": None}


def test_toml_dates_are_accepted_for_the_report_period(tmp_path):
    cfg = config.load(write(tmp_path, MINIMAL + "[report]\nstart = 2025-03-01\nend = 2025-03-08\n"))
    assert cfg.report.period() == (dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc),
                                   dt.datetime(2025, 3, 8, tzinfo=dt.timezone.utc))


@pytest.mark.parametrize("text, match", [
    ("databse = 'x.duckdb'\n" + MINIMAL, r"echoroom.toml: databse: unknown key; known keys here: database"),
    (MINIMAL + "[report]\ntopp = 3\n", r"report.topp: unknown key"),
    (MINIMAL + "[smtp]\npassword = 'hunter2'\n",
     r"smtp.password: secrets are never read from the config file; use ECHOROOM_SMTP_PASSWORD"),
    (MINIMAL + "[report]\ntop = 0\n", r"report.top: top=0: expected 1 to 100"),
    (MINIMAL + "[report]\ntop = '5'\n", r"report.top: expected int, found str '5'"),
    (MINIMAL + "[report]\ninclude_text = 1\n", r"report.include_text: expected bool, found int 1"),
    (MINIMAL + "[report]\ngrain = 'month'\n", r"report.grain: grain=month: expected one of auto, day, week"),
    (MINIMAL + "[report]\nstart = 2025-03-08\nend = 2025-03-01\n",
     r"report.start: start=2025-03-08 is not before end=2025-03-01"),
    (MINIMAL + "[report]\ndays = 7\nstart = 2025-03-01\n", r"report.days: days and start both given"),
    (MINIMAL + "[scoring]\nprocesses = 0\n", r"scoring.processes: processes=0: must be at least 1"),
    (MINIMAL + "[scoring]\nprecision = 'int8'\n",
     r"scoring.precision: precision=int8: expected one of auto, fp32, bf16"),
    (MINIMAL + "[scoring]\nlanguages = 'en,klingon'\n",
     r"scoring.languages: languages=en,klingon: 'klingon' unknown to the language detector: expected ISO 639-1"),
    ("log_level = 'loud'\n" + MINIMAL, r"log_level: 'loud' is not one of debug, info, warning"),
    (MINIMAL + "[email]\nmode = 'send'\n", r"email.recipients: empty, but email.mode is send"),
    (MINIMAL + '[email]\nrecipients = ["a@example.com\\nBcc: x@example.net"]\n',
     r"email.recipients\[0\]: 'a@example.com\\nBcc: x@example.net': an address cannot contain a line break"),
    (MINIMAL + "[email]\nmode = 'send'\nrecipients = ['a@example.com']\n"
     "[smtp]\nhost = 'smtp.example.com'\nsecurity = 'none'\n",
     r"smtp.security: none sends in clear text.*not to smtp.example.com"),
    (MINIMAL + "[smtp]\nport = 70000\n", r"smtp.port: 70000 is not a port number"),
    (MINIMAL + "[email]\nrecipients = 'a@example.com'\n", r"email.recipients: expected list, found str"),
    ("report = 3\n" + MINIMAL, r"report: expected a table"),
    ('[[inputs]]\ncorpus = "c.parquet"\n', r"inputs\[0\].paths: missing; it is required"),
    ('[[inputs]]\npaths = []\ncorpus = "c.parquet"\n', r"inputs\[0\].paths: empty"),
    ("database = 'x.duckdb'\n", r"inputs: missing; add at least one \[\[inputs\]\]"),
    (MINIMAL + 'timezone = "Mars/Olympus"\n', r"inputs\[0\]: unknown timezone 'Mars/Olympus'"),
    (MINIMAL + 'format = "myspace"\n', r"inputs\[0\]: unknown format 'myspace'"),
    (MINIMAL + 'pseudonymize_key_env = "ECHOROOM_TEST_UNSET_KEY"\n',
     r"inputs\[0\].pseudonymize_key_env: names ECHOROOM_TEST_UNSET_KEY, which is not set"),
    (MINIMAL + '[[inputs]]\npaths = ["more/*.txt"]\ncorpus = "corpus.parquet"\n',
     r"inputs: two inputs write the same corpus"),
    ("[[inputs]\n", r"echoroom.toml: not valid TOML"),
])
def test_mistakes_name_the_file_and_key(tmp_path, monkeypatch, text, match):
    monkeypatch.delenv("ECHOROOM_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError, match=match):
        config.load(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.toml: no such config file \(see examples/echoroom.toml\)"):
        config.load(tmp_path / "nope.toml")


def test_cli_exits_with_the_config_code(tmp_path, capsys):
    from echoroom import cli

    assert cli.main(["run", "--config", str(write(tmp_path, "oops = 1\n" + MINIMAL))]) == Exit.CONFIG
    assert "oops: unknown key" in capsys.readouterr().err


def test_cli_options_are_the_settings_fields():
    """`echoroom score` and `echoroom report` take every setting, with its declared help."""
    import dataclasses

    from echoroom import cli
    from echoroom.report.settings import ReportSettings
    from echoroom.scoring.settings import ScoreSettings

    subcommands = cli.build_parser()._subparsers._group_actions[0].choices
    for command, cls in (("score", ScoreSettings), ("report", ReportSettings)):
        actions = {a.dest: a for a in subcommands[command]._actions}
        for field in dataclasses.fields(cls):
            assert actions[field.name].help.startswith(field.metadata["help"].replace("%", "%%")), field.name


def test_a_bad_setting_is_named_as_each_front_end_spells_it(tmp_path, capsys):
    from echoroom import cli
    from echoroom.report.settings import ReportError, ReportSettings
    from echoroom.settings import SettingError, parse

    assert cli.main(["report", "--db", "x.duckdb", "--out", str(tmp_path), "--min-support", "0"]) == 2
    assert "error: --min-support=0: expected 1 or more" in capsys.readouterr().err
    with pytest.raises(ReportError, match=r"^--min_support=0: expected 1 or more$") as raised:
        parse(ReportSettings, ["--min_support=0"])
    assert isinstance(raised.value, SettingError) and raised.value.key == "min_support"
    with pytest.raises(ConfigError, match=r"report.min_support: min_support=0: expected 1 or more"):
        config.load(write(tmp_path, MINIMAL + "[report]\nmin_support = 0\n"))


def test_the_lenses_languages_are_one_setting_for_the_config_the_cli_and_the_job(tmp_path, capsys):
    from echoroom import cli
    from echoroom.scoring.settings import ScoreSettings
    from echoroom.settings import SettingError, parse

    cfg = config.load(write(tmp_path, MINIMAL + "[scoring]\nlanguages = 'en, de'\n"))
    assert cfg.scoring.languages == "en, de" and cfg.scoring.language_list() == ("en", "de")
    assert config.load(write(tmp_path, MINIMAL)).scoring.language_list() == ("en",)
    assert parse(ScoreSettings, ["--inputs=c.parquet", "--languages=en,es"]).language_list() == ("en", "es")
    with pytest.raises(SettingError, match=r"^--languages=xx: 'xx' unknown to the language detector") as raised:
        parse(ScoreSettings, ["--inputs=c.parquet", "--languages=xx"])
    assert raised.value.key == "languages"
    assert cli.main(["score", "c.parquet", "--db", str(tmp_path / "x.duckdb"), "--languages", ""]) == 2
    assert "error: --languages=: no language given: expected ISO 639-1 codes" in capsys.readouterr().err


def test_a_bare_switch_means_true_and_takes_no_value():
    """`python -m jobs.train --emoji_only --epochs=2` used to read "--epochs=2" as the switch's value."""
    import dataclasses

    from echoroom.settings import SettingError, parse

    @dataclasses.dataclass(frozen=True)
    class Job:
        emoji_only: bool = False
        epochs: float = 1.5

    assert parse(Job, ["--emoji_only", "--epochs=2"]) == Job(True, 2.0)
    assert parse(Job, ["--epochs", "2", "--emoji_only"]) == Job(True, 2.0)
    assert parse(Job, ["--emoji_only", "false"]) == Job(False, 1.5)
    assert parse(Job, ["--emoji-only=no"]) == Job(False, 1.5)
    with pytest.raises(SettingError, match="emoji_only.*expected true or false"):
        parse(Job, ["--emoji_only=maybe"])
    with pytest.raises(ValueError, match="--epochs needs a value"):
        parse(Job, ["--epochs"])
