"""The scoring job's settings, declared once: the job, ``echoroom score``, the pipeline's
``[scoring]`` keys and the benchmark all build a ``ScoreSettings``."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass

from echoroom import settings as S
from echoroom.lenses import default_lens_folders


@dataclass(frozen=True)
class ScoreSettings:
    inputs: str = ""                 # Parquet files, folders or globs, comma-separated
    db: str = "echoroom.duckdb"      # the DuckDB file (created if missing)
    columns: str = ""                # canonical=corpus column pairs, e.g. text=body,message_id=id
    lenses: str = ""                 # folder holding author/ and reader/ (default: the shipped lenses)
    processes: int = 1               # processes the launcher must have started
    chunk_rows: int = 1024           # rows per unit (one shard file each); part of the resume key
    batch_tokens: int = 1024         # padded tokens per model batch (length-sorted; CPU-cache sized, raise on GPU)
    max_batch: int = 256             # texts per model batch at most
    threads: int = 0                 # torch threads per process; 0 = CPU cores / local processes
    quantize: bool = False           # int8 dynamic quantization of the encoder (CPU); a separate version
    device: str = "auto"             # auto | cpu | cuda
    work_dir: str = ""               # shards while a run is open; default DB.work next to the DB
    keep_shards: bool = False        # keep the shard folder after loading (debugging)
    progress: bool = True            # tqdm bar on the main process

    def __post_init__(self):
        if not self.input_list():
            raise ValueError("--inputs is empty: name Parquet files, folders or globs, comma-separated")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"--device={self.device}: expected auto, cpu or cuda")
        for key in ("processes", "chunk_rows", "batch_tokens", "max_batch"):
            if getattr(self, key) < 1:
                raise ValueError(f"--{key}={getattr(self, key)}: must be at least 1")
        if self.threads < 0:
            raise ValueError(f"--threads={self.threads}: must be 0 (auto) or more")

    def input_list(self) -> list[str]:
        return [p.strip() for p in self.inputs.split(",") if p.strip()]

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
