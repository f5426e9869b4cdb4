"""A long TMPDIR: the workers' socket path would pass the 107 bytes a Unix socket
allows, and every run failed with "cannot listen on None". Real coordinator and
worker processes; the socket goes to a short private directory instead."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orderflow_services.coordinator.scratch import SCRATCH_PREFIX, SHORT_BASES

from tests.coordinator.harness import make_tie_recording, start_coord


def _ours(pid: int) -> list[Path]:
    """Scratch directories under the short bases that belong to process ``pid``."""
    found = []
    for base in SHORT_BASES:
        for directory in Path(base).glob(f"{SCRATCH_PREFIX}*"):
            try:
                if (directory / "pid").read_text() == str(pid):
                    found.append(directory)
            except OSError:
                continue
    return found


def test_a_long_tmpdir_still_gets_workers_and_leaves_nothing_behind(tmp_path: Path) -> None:
    tmpdir = tmp_path / ("t" * 120)
    tmpdir.mkdir()
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    log = tmp_path / "coord.log"
    coord = start_coord(log, "--workers", 2, "--shard-rows", 200, db, tmpdir=tmpdir)
    assert coord.wait(timeout=120) == 0, log.read_text()
    text = log.read_text()
    assert "joined" in text and "cannot listen" not in text, text
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT status FROM metrics_runs").fetchall() == [("finished",)]
    conn.close()
    assert _ours(coord.pid) == []
    assert list(tmpdir.iterdir()) == []
