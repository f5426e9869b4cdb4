"""Recordings in a read-only directory, read by a user without root's override.

The tests run as root, which may write anywhere, so the tools run under
``setpriv`` as ``nobody`` on files in a directory that user cannot write (mode
555), as on an archive, a snapshot or a read-only share.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.coordinator.harness import make_tie_recording, run_coord
from tests.dashboard.browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, source

BIN = Path(sys.executable).parent
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run the tools as another user",
)


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory every user can enter, with ``archive`` (read-only once filled)
    and ``out`` (writable by anyone) inside."""
    root = Path(tempfile.mkdtemp(prefix="orderflow-ro-"))
    root.chmod(0o755)
    (root / "archive").mkdir(mode=0o755)
    (root / "out").mkdir(mode=0o777)
    (root / "out").chmod(0o777)
    yield root
    (root / "archive").chmod(0o755)
    shutil.rmtree(root)


def _archive(place: Path, db: Path, *, shm: bool = True) -> Path:
    target = place / "archive" / db.name
    for part in db.parent.glob(db.name + "*"):
        if part.name.endswith("-shm") and not shm:
            continue
        shutil.copy(part, place / "archive" / part.name)
        (place / "archive" / part.name).chmod(0o644)
    (place / "archive").chmod(0o555)
    return target


def _as_nobody(place: Path, program: str, *args: object) -> subprocess.CompletedProcess:
    return _run_as_nobody(place, [str(BIN / program), *map(str, args)])


def _as_nobody_python(place: Path, code: str, *args: object) -> subprocess.CompletedProcess:
    """``code`` run by this venv's Python as nobody, as a notebook cell would be."""
    return _run_as_nobody(place, [sys.executable, "-c", code, *map(str, args)])


def _run_as_nobody(
    place: Path, command: list[str], cwd: Path | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(place / "out"), "XDG_CACHE_HOME": str(place / "out")}
    return subprocess.run(
        [*AS_NOBODY, *command],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=cwd or place / "out",
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_processed_recording_is_readable_by_every_tool_from_a_read_only_directory(
    tmp_path: Path, place: Path, workers: str
) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    assert run_coord("--workers", workers, "--quiet", db).returncode == 0
    archived = _archive(place, db)
    report = _as_nobody(place, "orderflow-report", archived, "--out", place / "out" / "r")
    assert report.returncode == 0, report.stderr
    no_store = _as_nobody(
        place, "orderflow-backtest", archived, "--strategy", "obi-threshold", "--no-store"
    )
    assert no_store.returncode == 0, no_store.stderr
    store = _as_nobody(place, "orderflow-backtest", archived, "--strategy", "obi-threshold")
    assert store.returncode == 2
    assert f"{archived}: is read-only here" in store.stderr
    assert "pass --no-store" in store.stderr
    coord = _as_nobody(place, "orderflow-coord", "--workers", "0", "--force", archived)
    assert coord.returncode == 2
    assert coord.stderr.strip() == (
        f"orderflow-coord: {archived}: its directory cannot be written (Permission denied):"
        " metrics are stored in the recording itself, so compute them on a copy in a"
        " writable directory"
    )


def test_a_file_left_in_wal_mode_is_read_by_every_tool(tmp_path: Path, place: Path) -> None:
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    assert run_coord("--workers", "0", "--quiet", db).returncode == 0
    with sqlite3.connect(db) as conn:  # as an earlier version left every file it wrote
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(  # a side table the panels query in the file itself
            "CREATE TABLE alerts (instrument TEXT, ts_ns INTEGER, kind TEXT, value REAL,"
            " message TEXT)"
        )
        conn.execute(
            "INSERT INTO alerts SELECT instrument, ts_ns, 'obi', obi, 'high' FROM metrics"
            " WHERE obi IS NOT NULL LIMIT 3"
        )
    conn.close()
    archived = _archive(place, db)
    assert not (place / "archive" / "rec.db-shm").exists()
    for program, *args in (
        ("orderflow-backtest", "--strategy", "obi-threshold", "--no-store"),
        ("orderflow-report", "--out", place / "out" / "r"),  # DuckDB-based: a copy through
        ("orderflow-dashboard", "--export", place / "out" / "d.html"),  # Python's SQLite
    ):
        done = _as_nobody(place, program, archived, *args)
        assert done.returncode == 0, f"{program}: {done.stderr}"
        assert "cannot be read" not in done.stderr, f"{program}: {done.stderr}"
    assert "high" in (place / "out" / "d.html").read_text()  # the alerts reached the page


def _writer_with_a_change(tmp_path: Path) -> tuple[Path, sqlite3.Connection]:
    """A processed recording and a connection holding it in WAL mode (no automatic
    checkpoint) that has committed one change: snapshot 1's metrics deleted."""
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    assert run_coord("--workers", "0", "--quiet", db).returncode == 0
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("DELETE FROM metrics WHERE snapshot_id = 1")
    return db, writer


def _archive_with_wal_changes(tmp_path: Path, place: Path) -> Path:
    """A processed recording copied, without its -shm, while a writer held it in WAL mode
    with a committed change (snapshot 1's metrics deleted) still only in the -wal."""
    db, writer = _writer_with_a_change(tmp_path)  # committed, in the -wal only
    archived = _archive(place, db, shm=False)  # copied while the writer has it open
    writer.close()
    assert (place / "archive" / "rec.db-wal").stat().st_size > 0
    return archived


def test_changes_only_in_the_wal_are_reported_once_by_each_tool(
    tmp_path: Path, place: Path
) -> None:
    """The report opens the file once per section and said so eight times, the export
    and the backtest twice: one line per file is the warning, more is noise."""
    archived = _archive_with_wal_changes(tmp_path, place)
    for program, *args in (
        ("orderflow-backtest", "--strategy", "obi-threshold", "--no-store"),
        ("orderflow-dashboard", "--export", place / "out" / "d.html"),
        ("orderflow-report", "--out", place / "out" / "r"),
    ):
        done = _as_nobody(place, program, archived, *args)
        assert done.returncode == 0, f"{program}: {done.stderr}"
        warnings = [line for line in done.stderr.splitlines() if "-wal file holds" in line]
        assert len(warnings) == 1, f"{program}: {done.stderr}"
        assert f"{archived}: read-only directory" in warnings[0]
        assert "not yet in the file" in warnings[0]
    assert stat.S_IMODE((place / "archive").stat().st_mode) == 0o555


def test_a_wal_already_copied_back_into_the_file_is_not_reported(
    tmp_path: Path, place: Path
) -> None:
    """A -wal is kept for reuse after a checkpoint: a copy taken while a program had the
    file open holds frames that are all in the file, and "holds N bytes of changes not
    yet in the file" sent the user copying an archive for nothing."""
    db, writer = _writer_with_a_change(tmp_path)
    busy, frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, frames) and frames > 0
    archived = _archive(place, db, shm=False)  # copied while the writer has it open
    writer.close()
    assert (place / "archive" / "rec.db-wal").stat().st_size > 0
    backtest = _as_nobody(
        place, "orderflow-backtest", archived, "--strategy", "obi-threshold", "--no-store"
    )
    report = _as_nobody(place, "orderflow-report", archived, "--out", place / "out" / "r")
    for done in (backtest, report):
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr
    assert "loaded 1,664 rows" in backtest.stdout  # the file itself lacks the deleted row


def test_a_wal_this_user_cannot_read_is_reported_not_a_traceback(
    tmp_path: Path, place: Path
) -> None:
    """Whether the -wal's frames are in the file is told by reading them; another
    user's -wal (mode 600) cannot be, and the reader says so and goes on."""
    archived = _archive_with_wal_changes(tmp_path, place)
    wal = place / "archive" / "rec.db-wal"
    wal.chmod(0o600)
    done = _as_nobody(
        place, "orderflow-backtest", archived, "--strategy", "obi-threshold", "--no-store"
    )
    assert done.returncode == 0, done.stderr
    (warning,) = done.stderr.splitlines()
    assert warning.endswith(
        f"{archived}: read-only directory: its -wal file ({wal.stat().st_size} bytes) cannot"
        " be read by this user (Permission denied), so changes it may hold that are not yet"
        " in the file are missing here"
    ), warning


NOTEBOOK = """
import sys
import orderflow.query as q
from orderflow.core.errors import InputFileError

db = sys.argv[1]
print("candles", len(q.candles(db, "BTC-USDT")))
print("metrics", len(q.metrics(db, "BTC-USDT")))
print("series", len(q.series(db, "BTC-USDT", "obi")))
print("heatmap", q.heatmap(db, "BTC-USDT").snapshots.sum())
print("microprice", len(q.microprice(db, "BTC-USDT", store=False)))
dataset = q.Dataset(db)
print("dataset", len(q.candles(dataset, "BTC-USDT")))
dataset.close()
try:
    q.microprice(db, "BTC-USDT")
except InputFileError as exc:
    print("refused", exc)
"""


def test_a_file_left_in_wal_mode_is_read_by_the_notebook_api_and_not_written(
    tmp_path: Path, place: Path
) -> None:
    """Storing a result into a WAL-mode file in a read-only directory said "cannot be
    opened for writing (unable to open database file)", and a micro-price fit had no
    way out but a traceback; both now say the file is read-only here and how to go on."""
    archived = _archive_with_wal_changes(tmp_path, place)
    notebook = _as_nobody_python(place, NOTEBOOK, archived)
    assert notebook.returncode == 0, notebook.stderr
    read = dict(line.split(" ", 1) for line in notebook.stdout.splitlines())
    assert all(int(read[k]) > 0 for k in ("candles", "metrics", "series", "heatmap", "dataset"))
    assert int(read["microprice"]) > 0
    assert read["refused"].startswith(f"{archived}: is read-only here")
    assert read["refused"].endswith("pass store=False to fit without storing the fit")
    store = _as_nobody(place, "orderflow-backtest", archived, "--strategy", "obi-threshold")
    assert store.returncode == 2, store.stderr
    refused = store.stderr.splitlines()[-1]
    assert refused.startswith(f"orderflow-backtest: {archived}: is read-only here"), refused
    assert refused.endswith("pass --no-store to backtest without storing results"), refused
    assert sorted(p.name for p in (place / "archive").iterdir()) == ["rec.db", "rec.db-wal"]


@pytest.mark.browser
def test_the_dashboard_server_draws_a_file_left_in_wal_mode_and_warns_once(
    tmp_path: Path, place: Path
) -> None:
    """The server (a kept store, following the file) rather than ``--export``: a page
    draws every panel, and the -wal's unread changes are one line in the server's log
    (it said so three times, once per open)."""
    archived = _archive_with_wal_changes(tmp_path, place)
    env = {
        **os.environ,
        "HOME": str(place / "out"),
        "ORDERFLOW_CACHE_DIR": str(place / "out" / "cache"),
    }
    log = place / "out" / "dashboard.log"
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [*AS_NOBODY, str(BIN / "orderflow-dashboard"), str(archived),
             "--port", str(free_port())],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=place / "out",
        )  # fmt: skip
    try:
        line = server.stdout.readline()
        assert line.startswith("Dashboard: http://localhost:"), line + log.read_text()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(line.split(": ", 1)[1].strip())
                page.wait_for_function(
                    "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0]"
                    ".get_model_by_name('obi').data['t'].length > 0",
                    timeout=60_000,
                )
                drawn = {name: len(source(page, name)["t"]) for name in ("obi", "cvd", "candles")}
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
    assert all(n > 0 for n in drawn.values()), drawn
    logged = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(logged) == 1, logged  # no error, no traceback, the warning once
    assert f"{archived}: read-only directory: its -wal file holds" in logged[0]
    assert (place / "out" / "cache").is_dir()  # the kept store went where it could be written


def test_results_that_cannot_be_written_are_one_line_each(tmp_path: Path, place: Path) -> None:
    """Run from inside the archive, as a user reading it would: the report's default
    ./report, an export or a JSON file there cannot be written, and each was a
    PermissionError traceback (the report's after all its work was done)."""
    db = tmp_path / "rec.db"
    make_tie_recording(db, shuffle_ids=False)
    assert run_coord("--workers", "0", "--quiet", db).returncode == 0
    archived = _archive(place, db)
    for program, args, written, hint in (
        ("orderflow-report", [], "report", "pass --out with a directory you can write"),
        (
            "orderflow-dashboard",
            ["--export", "d.html"],
            "d.html",
            "pass --export a path you can write",
        ),
        (
            "orderflow-backtest",
            ["--strategy", "obi-threshold", "--no-store", "--json", "r.json"],
            "r.json",
            "pass --json a path you can write",
        ),
    ):
        done = _run_as_nobody(place, [str(BIN / program), "rec.db", *args], cwd=archived.parent)
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [
            f"{program}: {written}: cannot be written (Permission denied); {hint}"
        ], done.stderr
    assert sorted(p.name for p in archived.parent.iterdir()) == ["rec.db"]


def test_a_new_recording_in_a_read_only_directory_is_one_line(place: Path) -> None:
    """orderflow-synth and orderflow-import writing into the archive: SQLite's "unable to
    open database file" came as a traceback, naming neither the file nor the cause."""
    (place / "out" / "feed.jsonl").write_text("")
    (place / "archive").chmod(0o555)
    expected = (
        f"{place / 'archive' / 'new.db'}: cannot be written (unable to open database file;"
        f" {place / 'archive'} is not writable by this user)"
    )
    synth = _as_nobody(place, "orderflow-synth", place / "archive" / "new.db", "--quiet")
    assert (synth.returncode, synth.stderr.splitlines()) == (
        2,
        [f"orderflow-synth: {expected}"],
    ), synth.stderr
    feed = _as_nobody(
        place, "orderflow-import", "binance", "feed.jsonl", "--out", place / "archive" / "new.db"
    )
    assert (feed.returncode, feed.stderr.splitlines()) == (
        1,
        [f"orderflow-import: error: {expected}"],
    ), feed.stderr
    assert list((place / "archive").iterdir()) == []
