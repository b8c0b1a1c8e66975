"""Route policies from a TOML file (the policies a router starts with).

Format: one table per model under ``models``; every key but ``versions`` is
optional (defaults shown)::

    [models.intent]
    versions = { "1" = 80, "2" = 20 }   # version -> relative weight (>= 0; 0 = reachable by pin only)
    sticky = false                      # same record key -> same version (CRC-32 buckets)
    allow_pin = true                    # honour the `model-version` header
    shadows = { "3" = 5 }               # version -> percent of requests copied to it
    disabled = []                       # versions switched off: weight 0, not pinnable, no shadow copies

Version names are strings; bare TOML keys (``versions = { 1 = 80 }``) and
integers in ``disabled`` are read as strings. Unknown keys are errors (a typo
must not silently fall back to a default), and every error names the file
and the model. See `router/routes.example.toml`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from schemas.routes import InvalidPolicy, RoutePolicy, policy_from_dict

_KEYS = frozenset({"versions", "sticky", "allow_pin", "shadows", "disabled"})


class RouteFileError(InvalidPolicy):
    """A route file that cannot be read or holds a policy that cannot route."""

    def __init__(self, source: str, model: str | None, message: str) -> None:
        where = source if model is None else f"{source}: model {model!r}"
        super().__init__(f"{where}: {message}")
        self.source = source
        self.model = model


def load_routes(path: Path) -> dict[str, RoutePolicy]:
    """The policies in a route file, by model; raises RouteFileError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RouteFileError(str(path), None, f"cannot read: {e}") from None
    return parse_routes(text, source=str(path))


def parse_routes(text: str, *, source: str) -> dict[str, RoutePolicy]:
    """The policies in route-file text, by model; `source` names the text in errors."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RouteFileError(source, None, f"not valid TOML: {e}") from None
    stray = set(doc) - {"models"}
    if stray:
        raise RouteFileError(source, None, f"unknown top-level keys {sorted(stray)}; use [models.<name>]")
    models = doc.get("models", {})
    if not isinstance(models, dict):
        raise RouteFileError(source, None, "'models' must be a table of [models.<name>] tables")
    policies: dict[str, RoutePolicy] = {}
    for model, table in models.items():
        if not isinstance(table, dict):
            raise RouteFileError(source, model, "must be a table")
        stray = set(table) - _KEYS
        if stray:
            expected = ", ".join(sorted(_KEYS))
            raise RouteFileError(source, model, f"unknown keys {sorted(stray)}; expected: {expected}")
        try:
            policies[model] = policy_from_dict({**table, "model": model})
        except InvalidPolicy as e:
            raise RouteFileError(source, model, str(e)) from None
    return policies
