"""Server lifecycle: open the recordings once when the server starts, close them at exit,
and close the files only an ended session showed."""

from __future__ import annotations

from orderflow_services.dashboard.registry import registry


def on_server_loaded(server_context: object) -> None:
    if registry.config is None:  # under plain ``bokeh serve``; orderflow-dashboard opened it
        registry.open()


def on_server_unloaded(server_context: object) -> None:
    registry.close()


def on_session_destroyed(session_context: object) -> None:
    registry.forget(session_context.id)
