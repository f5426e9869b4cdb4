"""What a ``-wal`` file holds that its database file does not, read without SQLite.

A WAL-mode file in a directory its reader cannot write is opened as immutable
(``store.connections.open_readonly``), which reads the database file alone: the
changes committed to the ``-wal`` and not yet copied back (checkpointed) are not
seen, and the user should be told. A ``-wal`` is not emptied by a checkpoint,
though, only reused later: a copy taken while a program had the file open often
holds a ``-wal`` of thousands of frames that are all in the file already, and
saying "changes not yet in the file" then sends the user copying an archive for
nothing. Which frames were copied back is recorded only in the ``-shm`` file,
which is exactly what is missing here, so the committed frames are compared
with the database's pages instead.

The format (sqlite.org/fileformat2.html, "The WAL File Format"): a 32-byte header
(magic, version, page size, checkpoint sequence, two salts, checksum), then
frames of a 24-byte header (page number; for the last frame of a transaction the
database size in pages; the two salts; checksum) and one page. Frames count
while their salts match the header's (a reused ``-wal`` keeps older frames of
other salts behind the newer ones), up to the last frame that ends a
transaction. Checksums are not verified: a frame torn by a crash at the very end
may be counted as a change, which only makes the warning err on the safe side.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

__all__ = ["unread_wal_pages"]

_HEADER = struct.Struct(">IIIIII")
"""magic, version, page size, checkpoint sequence, salt-1, salt-2 (checksum follows)."""
_HEADER_BYTES = 32
_FRAME = struct.Struct(">IIII")
"""page number, database size in pages after a commit (else 0), salt-1, salt-2."""
_FRAME_HEADER_BYTES = 24
_MAGICS = (0x377F0682, 0x377F0683)


def unread_wal_pages(database: Path) -> int:
    """How many pages the committed transactions in ``database``'s ``-wal`` would change
    in the database file: 0 without a ``-wal``, with one whose changes are all in the
    file already, or with one that is not a WAL (SQLite ignores it too).

    A change of size shows as a page: page 1 holds the database's size, and a page
    past the file's end reads as empty. Raises OSError when either file cannot be read."""
    wal = database.with_name(database.name + "-wal")
    try:
        with wal.open("rb") as frames, database.open("rb") as db:
            page_size, latest = _committed_frames(frames)
            db_bytes = os.fstat(db.fileno()).st_size
            return sum(
                _read(frames, offset, page_size) != _page(db, page, page_size, db_bytes)
                for page, offset in latest.items()
            )
    except FileNotFoundError:
        return 0


def _committed_frames(frames: BinaryIO) -> tuple[int, dict[int, int]]:
    """(page size, {page number: offset of its last committed image}) of an open
    ``-wal``; the dict is empty when no transaction is committed in it."""
    header = frames.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES:
        return 0, {}
    magic, _, page_size, _, salt1, salt2 = _HEADER.unpack_from(header)
    page_size = 65536 if page_size == 1 else page_size
    if magic not in _MAGICS or not 512 <= page_size <= 65536 or page_size & (page_size - 1):
        return 0, {}  # SQLite's page sizes; a header claiming 2 GiB pages must not be read
    committed: dict[int, int] = {}
    pending: dict[int, int] = {}
    offset = _HEADER_BYTES
    while len(head := _read(frames, offset, _FRAME_HEADER_BYTES)) == _FRAME_HEADER_BYTES:
        page, size_after, frame_salt1, frame_salt2 = _FRAME.unpack_from(head)
        if (frame_salt1, frame_salt2) != (salt1, salt2) or page == 0:
            break  # an older generation's frame, left behind in a reused -wal
        pending[page] = offset + _FRAME_HEADER_BYTES
        if size_after:  # the last frame of a transaction
            committed.update(pending)
            pending.clear()
        offset += _FRAME_HEADER_BYTES + page_size
    return page_size, committed


def _page(db: BinaryIO, page: int, page_size: int, db_bytes: int) -> bytes:
    """Page ``page`` of the database file, empty past its end, which is not sought: a
    frame's page number is the -wal's bytes, and page 2^28 of 64 KiB lies past ext4's
    largest file (seeking there raised EINVAL)."""
    offset = (page - 1) * page_size
    return _read(db, offset, page_size) if offset < db_bytes else b""


def _read(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)
