"""``orderflow-coord --workers 0`` as a user runs it: real processes, real files."""

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.recordings import input_tables_digest, read_metrics

B, A = [[100, 1]], [[101, 2]]


def coord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderflow_services.coordinator.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_paths_can_be_files_directories_and_globs(recording, tmp_path: Path) -> None:
    one = recording(books=[("X", B, A, "1")], name="one.db")
    data = tmp_path / "day"
    data.mkdir()
    two = shutil.copy(recording(books=[("Y", B, A, "2")], name="two.db"), data / "two.db")
    (data / "notes.txt").write_text("not a database")
    three = recording(books=[("Z", B, A, "3")], name="three_x.db")
    result = coord("--workers", "0", "--quiet", str(one), str(data), str(tmp_path / "three_*.db"))
    assert result.returncode == 0, result.stderr
    for path in (one, Path(two), three):
        assert len(read_metrics(path)) == 1
    assert "metrics written: 3 snapshots" in result.stdout


def test_not_sqlite_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("hello, I am a CSV file\n1,2,3\n" * 200)
    before = bad.read_bytes()
    result = coord("--workers", "0", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "SQLite" in lines[0]
    assert "Traceback" not in result.stderr
    assert bad.read_bytes() == before


def test_missing_table_and_missing_file(recording, tmp_path: Path) -> None:
    path = tmp_path / "only_book.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE book (id INTEGER PRIMARY KEY, instrument, bids, asks, timestamp)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    result = coord("--workers", "0", str(path))
    assert result.returncode == 2 and "has no 'trades' table" in result.stderr
    assert path.read_bytes() == before
    missing = coord("--workers", "0", str(tmp_path / "missing.db"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_profile_with_flag_override_and_skip_on_rerun(recording, tmp_path: Path) -> None:
    db = recording(books=[("X", [[100, 1], [99, 3]], A, "1")])
    before = input_tables_digest(db)
    profile = tmp_path / "p.yaml"
    profile.write_text(f"paths: [{db.name}]\nobi_depth: 5\nworkers: 0\n")
    first = coord("--profile", str(profile), "--depth", "1", "--quiet")
    assert first.returncode == 0, first.stderr
    assert read_metrics(db)[1][4] == (1 - 2) / 3  # depth 1 from the flag, not 5
    again = coord("--profile", str(profile), "--depth", "1")
    assert (
        again.returncode == 0 and "already computed" in again.stdout and "--force" in again.stdout
    )
    assert input_tables_digest(db) == before


def test_bad_profile_key_is_one_line(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("paths: [x.db]\nwokers: 3\n")
    result = coord("--profile", str(profile))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "wokers" in result.stderr


def test_summary_points_at_the_rejects_and_the_next_step(recording) -> None:
    db = recording(books=[("X", B, A, "1"), ("X", [[1, -1]], A, "2")])
    result = coord("--workers", "0", str(db))
    assert result.returncode == 0, result.stderr
    assert "SELECT source_table, row_id, reason FROM metrics_rejects" in result.stdout
    assert "next: " in result.stdout and f"orderflow-dashboard {db}" in result.stdout


def test_one_unreadable_file_does_not_stop_the_others(recording, tmp_path: Path) -> None:
    good = recording(books=[("X", B, A, "1")], name="good.db")
    bad = tmp_path / "bad.db"
    bad.write_text("not a database\n" * 100)
    for workers in ("0", "2"):
        result = coord("--workers", workers, "--force", "--quiet", str(bad), str(good))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith(f"orderflow-coord: {bad}") and "SQLite" in lines[0]
        assert "1 database(s) could not be processed" in lines[-1]
        assert len(read_metrics(good)) == 1
    assert bad.read_text() == "not a database\n" * 100
