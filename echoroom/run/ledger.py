"""The sent-email ledger: which report went to whom for which period, so a re-run (cron firing
twice, a retry after a failure) does not email the same period again.

One JSON line per recipient and send, appended to ``STATE_DIR/sent.jsonl`` and flushed to disk.
A line is written after the server accepted the message: a crash between the two can send one
email twice, never lose one. Runs hold the run lock, so there is a single writer.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path


class Ledger:
    def __init__(self, state_dir: str | os.PathLike):
        self.path = Path(state_dir) / "sent.jsonl"

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        rows = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise ValueError(f"{self.path}:{n}: not a JSON line; fix or remove that line") from None
        return rows

    def sent(self, period: str, recipient: str) -> dict | None:
        """The last record of this period's report going to ``recipient``, if any."""
        found = [e for e in self.entries() if e["period"] == period and e["recipient"] == recipient]
        return found[-1] if found else None

    def record(self, period: str, recipients: list[str], report_hash: str, message_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with open(self.path, "a", encoding="utf-8") as fh:
            for recipient in recipients:
                fh.write(json.dumps({"period": period, "recipient": recipient, "report_hash": report_hash,
                                     "message_id": message_id, "sent_at": now}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
