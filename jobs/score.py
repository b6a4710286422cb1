"""Score Parquet corpora through both lenses into DuckDB, exactly once.

    python -m jobs.score --inputs=corpus.parquet --db=echoroom.duckdb
    accelerate launch --multi_gpu --num_processes 2 jobs/score.py --inputs=corpus/ --db=x.duckdb --processes=2
    echoroom score corpus/ --db x.duckdb --processes 2      # launches the line above for you

On a CPU-only machine ``--multi_gpu`` still gives N gloo processes (``--cpu --num_processes N``
silently starts one), hence ``--processes``: the job stops if the launch did not give that many.
"""

from __future__ import annotations

import os
import sys

# Before anything can run a matrix product: see echoroom/scoring.py on oneDNN's kernel cache.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "0")
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script by `accelerate launch jobs/score.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from echoroom.settings import describe, parse, to_json


@dataclass(frozen=True)
class Settings:
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
        from echoroom.model import default_lens_folders
        return default_lens_folders(self.lenses or None)


def launch_command(processes: int, argv: list[str]) -> list[str]:
    """The ``accelerate launch`` command line that runs this job on ``processes`` processes."""
    import socket

    with socket.socket() as sock:  # a free port, so concurrent runs on one machine do not collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
            "--num_processes", str(processes), "--main_process_port", str(port), "--mixed_precision", "no",
            "--dynamo_backend", "no", str(Path(__file__).resolve()), *argv, f"--processes={processes}"]


def main(argv: list[str] | None = None) -> dict | None:
    settings = parse(Settings, sys.argv[1:] if argv is None else argv)

    import torch
    from accelerate import PartialState

    from echoroom import scoring

    cpu = settings.device == "cpu" or (settings.device == "auto" and not torch.cuda.is_available())
    state = PartialState(cpu=cpu)
    if state.num_processes != settings.processes:
        raise SystemExit(
            f"jobs/score.py: the launcher started {state.num_processes} process(es) but --processes="
            f"{settings.processes}. On CPU use `accelerate launch --multi_gpu --num_processes N` "
            "(`--cpu` starts one), or pass --processes to match the launch.")
    local = int(os.environ.get("LOCAL_WORLD_SIZE", state.num_processes))
    torch.set_num_threads(settings.threads or max(1, (os.cpu_count() or 1) // local))
    if state.is_main_process:
        print(f"jobs/score.py on {state.num_processes} process(es), {state.device}, "
              f"{torch.get_num_threads()} thread(s) each\n{describe(settings)}", flush=True)
    try:
        return scoring.run(settings, state, to_json(settings))
    finally:
        state.destroy_process_group()


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as exc:
        # Bad settings or input: the message says what to fix; a traceback would bury it.
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
