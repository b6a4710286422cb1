"""The scoring job's settings, declared once: the job, ``echoroom score``, the pipeline's
``[scoring]`` keys and the benchmark all build a ``ScoreSettings``."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass

from echoroom import settings as S
from echoroom.lenses import default_lens_folders
from echoroom.scoring import language
from echoroom.settings import SettingError, setting

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")  # echoroom.scoring.scorer.resolve_precision


@dataclass(frozen=True)
class ScoreSettings:
    inputs: str = setting("", "Parquet files, folders or globs, comma-separated")
    db: str = setting("echoroom.duckdb", "the DuckDB file scored into (created if missing)")
    columns: str = setting("", "canonical=corpus column pairs, e.g. text=body,message_id=id")
    lenses: str = setting("", "folder holding author/ and reader/ lenses; empty: the shipped ones "
                          "(or $ECHOROOM_LENSES)")
    languages: str = setting("en", "the lenses' languages, ISO 639-1, comma-separated: a message confidently in "
                             "another language is stored as skipped (`language xx`), not scored (docs/scoring.md)")
    processes: int = setting(1, "scoring processes; more than 1 runs under `accelerate launch` (the job "
                             "checks that the launch started that many)")
    chunk_rows: int = setting(1024, "rows per scoring unit (one resumable shard each; part of the resume key)")
    # Length-sorted batches: the defaults are sized for a CPU's cache; raise it on a GPU.
    batch_tokens: int = setting(0, "padded tokens per model batch; 0: the precision's own (fp32 1024, bf16 4096)")
    max_batch: int = setting(256, "texts per model batch at most")
    threads: int = setting(0, "torch threads per process; 0: CPU cores / processes on this machine")
    precision: str = setting("auto", "encoder precision: bf16 (same quality, 2-3x faster: docs/scoring.md) where "
                             "the hardware runs it natively, else fp32; fp32 for bit-reproducible probabilities",
                             choices=PRECISIONS)
    device: str = setting("auto", "where the model runs", choices=DEVICES)
    work_dir: str = setting("", "shard folder while a run is open; empty: DB.work beside the database")
    keep_shards: bool = setting(False, "keep the shard folder after loading (debugging)")
    progress: bool = setting(True, "a progress bar on the main process")

    def __post_init__(self):
        if not self.input_list():
            raise SettingError("inputs", "{inputs} is empty: name Parquet files, folders or globs, "
                               "comma-separated", self)
        S.check_choices(self)
        for key in ("processes", "chunk_rows", "max_batch"):
            if getattr(self, key) < 1:
                raise SettingError(key, f"{{{key}=}}: must be at least 1", self)
        if self.batch_tokens < 0:
            raise SettingError("batch_tokens", "{batch_tokens=}: must be 0 (the precision's own) or more", self)
        if self.threads < 0:
            raise SettingError("threads", "{threads=}: must be 0 (auto) or more", self)
        problem = language.unknown(self.language_list())
        if problem:
            raise SettingError("languages", "{languages=}: " + problem, self)

    def input_list(self) -> list[str]:
        return [p.strip() for p in self.inputs.split(",") if p.strip()]

    def language_list(self) -> tuple[str, ...]:
        return language.parse_languages(self.languages)

    def lens_folders(self) -> dict:
        return default_lens_folders(self.lenses or None)


def launch_command(settings: ScoreSettings) -> list[str]:
    """The ``accelerate launch`` command line that runs the scoring job (``jobs.score``, as a
    module) with these settings on ``settings.processes`` processes."""
    with socket.socket() as sock:  # a free port, so concurrent runs on one machine do not collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
            "--num_processes", str(settings.processes), "--main_process_port", str(port), "--mixed_precision", "no",
            "--dynamo_backend", "no", "--module", "jobs.score", *S.to_argv(settings)]
