"""Turns ``--strategy`` text into a strategy instance: a built-in name or ``module:Class``.

User strategies live in the user's own modules; the loader imports them by
path so nothing has to be registered, and every way this can go wrong ends in
one line that says what to fix.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from orderflow.strategies.base import Strategy, StrategyError
from orderflow.strategies.builtin import BUILTIN_STRATEGIES

__all__ = ["load_strategy", "parse_param", "resolve_strategy_class"]


def resolve_strategy_class(spec: str) -> type[Strategy]:
    """The class named by a built-in name or ``package.module:ClassName``."""
    if spec in BUILTIN_STRATEGIES:
        return BUILTIN_STRATEGIES[spec]
    module_name, colon, class_name = spec.partition(":")
    if not colon or not module_name or not class_name:
        names = ", ".join(sorted(BUILTIN_STRATEGIES))
        raise StrategyError(f"unknown strategy {spec!r}: use one of {names} or module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StrategyError(f"cannot import strategy module {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise StrategyError(f"module {module_name!r} has no attribute {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"{spec} is not a subclass of orderflow.strategies.Strategy")
    return cls


def load_strategy(spec: str, params: Mapping[str, object] | None = None) -> Strategy:
    """An instance of the strategy ``spec`` built with ``params``."""
    cls = resolve_strategy_class(spec)
    try:
        return cls(**dict(params or {}))
    except StrategyError:
        raise
    except TypeError as exc:
        raise StrategyError(f"{spec}: cannot be built with {dict(params or {})}: {exc}") from None


def parse_param(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` from the command line; numbers become floats, the rest stays text."""
    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise StrategyError(f"--param {text!r}: expected NAME=VALUE")
    value = value.strip()
    try:
        return name.strip(), float(value)
    except ValueError:
        return name.strip(), value
