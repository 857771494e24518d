"""Chat history on disk: one JSON-lines file per account and buddy, appended to as
messages come and go, so that a crash loses at most the line being written.

A line is either a message (``{"id", "at", "direction", "text", "state", "reason"}``) or
a later change of an outgoing message's delivery state (``{"id", "state", "reason"}``);
reading folds the second kind into the first.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

#: How many past messages a chat tab shows when it opens.
RECENT = 200


class Direction(Enum):
    IN = "in"
    OUT = "out"


class Delivery(Enum):
    """What became of a message we sent (RFC 3428: 200 delivered, 202 stored for an
    offline user by the Parley server, anything else failed)."""

    RECEIVED = "received"  # an incoming message
    SENDING = "sending"
    DELIVERED = "delivered"
    STORED = "stored"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One message of a conversation, as shown and as stored."""

    id: str
    at: datetime
    direction: Direction
    text: str
    state: Delivery
    reason: str = ""


def default_history_dir() -> Path:
    """``$XDG_DATA_HOME/parley/history`` (``~/.local/share/parley/history``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "parley" / "history"


def _file_name(aor: str) -> str:
    # AORs are user@domain; anything else is replaced so no name escapes the directory.
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", aor).lstrip(".") + ".jsonl"


class History:
    """The conversations of ``account`` under ``root`` (one directory per account)."""

    def __init__(self, root: Path, account: str) -> None:
        self.directory = root / _file_name(account).removesuffix(".jsonl")

    def path(self, buddy: str) -> Path:
        return self.directory / _file_name(buddy)

    def append(self, buddy: str, line: ChatLine) -> None:
        self._write(
            buddy,
            {
                "id": line.id,
                "at": line.at.isoformat(),
                "direction": line.direction.value,
                "text": line.text,
                "state": line.state.value,
                "reason": line.reason,
            },
        )

    def update(self, buddy: str, line_id: str, state: Delivery, reason: str = "") -> None:
        self._write(buddy, {"id": line_id, "state": state.value, "reason": reason})

    def load(self, buddy: str, limit: int = RECENT) -> list[ChatLine]:
        """The last ``limit`` messages with ``buddy``, oldest first; unreadable lines (a
        torn last write) are skipped."""
        path = self.path(buddy)
        if not path.exists():
            return []
        lines: dict[str, ChatLine] = {}
        with path.open(encoding="utf-8") as f:
            for raw in f:
                try:
                    record = json.loads(raw)
                    if "direction" in record:
                        line = ChatLine(
                            record["id"],
                            datetime.fromisoformat(record["at"]),
                            Direction(record["direction"]),
                            record["text"],
                            Delivery(record["state"]),
                            record.get("reason", ""),
                        )
                        lines[line.id] = line
                    elif record.get("id") in lines:
                        known = lines[record["id"]]
                        lines[known.id] = replace(
                            known, state=Delivery(record["state"]), reason=record.get("reason", "")
                        )
                except (ValueError, KeyError, TypeError):
                    continue
        return list(lines.values())[-limit:]

    def _write(self, buddy: str, record: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.path(buddy).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
