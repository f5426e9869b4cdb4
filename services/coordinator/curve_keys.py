"""CURVE keys: generating them, and making the coordinator accept only authorised workers.

Layout written by ``orderflow-coord keygen DIR [--worker NAME ...]``::

    DIR/server.key, DIR/server.key_secret     the coordinator's key pair
    DIR/authorized/NAME.key                   public keys the coordinator accepts
    DIR/workers/NAME/{NAME.key_secret, server.key}
                                              what to copy to the worker's host

Authorising another worker is copying its public ``.key`` into
``DIR/authorized``; revoking is deleting it (read when the coordinator starts).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import zmq
import zmq.auth

__all__ = ["CurveServer", "generate_keys"]


def generate_keys(directory: str | Path, workers: list[str]) -> list[Path]:
    """Create the server pair (if missing) and one pair per worker name; returns
    the directories to copy to the workers."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "authorized").mkdir(exist_ok=True)
    if not (d / "server.key_secret").is_file():
        zmq.auth.create_certificates(d, "server")
    made = []
    for name in workers:
        if not name or "/" in name or name == "server":
            raise ValueError(f"bad worker key name {name!r}")
        target = d / "workers" / name
        target.mkdir(parents=True, exist_ok=True)
        public, _secret = zmq.auth.create_certificates(target, name)
        shutil.copy(public, d / "authorized" / f"{name}.key")
        Path(public).unlink()
        shutil.copy(d / "server.key", target / "server.key")
        made.append(target)
    return made


class CurveServer:
    """A ZAP authenticator thread plus the server keys for one ROUTER socket."""

    def __init__(self, context: zmq.Context, directory: str | Path) -> None:
        d = Path(directory)
        secret_file = d / "server.key_secret"
        if not secret_file.is_file():
            raise ValueError(f"no server.key_secret; run 'orderflow-coord keygen {d}'")
        self.public, self.secret = zmq.auth.load_certificate(secret_file)
        self.authorized = d / "authorized"
        # imported here: it pulls in asyncio, which a run without keys never needs
        from zmq.auth.thread import ThreadAuthenticator

        self.authenticator = ThreadAuthenticator(context)
        self.authenticator.start()
        self.authenticator.configure_curve(domain="*", location=str(self.authorized))

    def secure(self, sock: zmq.Socket) -> None:
        """Require CURVE on the endpoints bound *after* this call."""
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def stop(self) -> None:
        self.authenticator.stop()
