"""Route files: the TOML format, its defaults, and errors that name the file and the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.routefile import RouteFileError, load_routes, parse_routes
from schemas.routes import RoutePolicy, ShadowTarget, VersionWeight

EXAMPLE = Path(__file__).resolve().parents[3] / "router" / "routes.example.toml"


def test_example_file() -> None:
    policies = load_routes(EXAMPLE)
    assert policies["intent"] == RoutePolicy(
        model="intent",
        versions=(VersionWeight("1", 80.0), VersionWeight("2", 20.0)),
        sticky=True,
        allow_pin=True,
        shadows=(ShadowTarget("3", 5.0),),
    )
    assert policies["tabular"].versions == (VersionWeight("1", 100.0), VersionWeight("2", 0.0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", {}, id="empty"),
        pytest.param(
            "[models.a]\nversions = { 1 = 3 }\n",
            {"a": RoutePolicy("a", (VersionWeight("1", 3.0),))},
            id="defaults-and-bare-key",
        ),
        pytest.param(
            '[models.a]\nversions = { "1" = 0.5, "2" = 1 }\nsticky = true\nallow_pin = false\n'
            'shadows = { "3" = 2.5 }\ndisabled = [2]\n',
            {
                "a": RoutePolicy(
                    "a",
                    (VersionWeight("1", 0.5), VersionWeight("2", 1.0)),
                    sticky=True,
                    allow_pin=False,
                    shadows=(ShadowTarget("3", 2.5),),
                    disabled=("2",),
                )
            },
            id="every-key",
        ),
        pytest.param(
            '[models.a]\nversions = { "1" = 1 }\n[models.b]\nversions = { "7" = 1 }\n',
            {
                "a": RoutePolicy("a", (VersionWeight("1", 1.0),)),
                "b": RoutePolicy("b", (VersionWeight("7", 1.0),)),
            },
            id="two-models",
        ),
    ],
)
def test_parse_routes(text: str, expected: dict[str, RoutePolicy]) -> None:
    assert parse_routes(text, source="r.toml") == expected


@pytest.mark.parametrize(
    ("text", "model", "message"),
    [
        pytest.param("[models.a\n", None, "not valid TOML", id="syntax"),
        pytest.param('[model.a]\nversions = { "1" = 1 }\n', None, "unknown top-level", id="top-typo"),
        pytest.param('models = "a"\n', None, "must be a table", id="models-not-table"),
        pytest.param("[models]\na = 1\n", "a", "must be a table", id="model-not-table"),
        pytest.param("[models.a]\nsticky = true\n", "a", "'versions' is required", id="no-versions"),
        pytest.param(
            '[models.a]\nversions = { "1" = 1 }\nstiky = true\n', "a", "unknown keys", id="key-typo"
        ),
        pytest.param('[models.a]\nversions = { "1" = "80" }\n', "a", "must be a number", id="weight-str"),
        pytest.param('[models.a]\nversions = { "1" = 0 }\n', "a", "sum to > 0", id="zero-total"),
        pytest.param('[models.a]\nversions = { "1" = 1 }\nsticky = "yes"\n', "a", "'sticky'", id="flag"),
        pytest.param(
            '[models.a]\nversions = { "1" = 1 }\ndisabled = ["9"]\n', "a", "does not list", id="disabled"
        ),
        pytest.param('[models."a.b"]\nversions = { "1" = 1 }\n', "a.b", "invalid model", id="model-name"),
    ],
)
def test_parse_errors_name_file_and_model(text: str, model: str | None, message: str) -> None:
    with pytest.raises(RouteFileError, match=message) as info:
        parse_routes(text, source="routes/prod.toml")
    assert (info.value.source, info.value.model) == ("routes/prod.toml", model)
    assert str(info.value).startswith("routes/prod.toml")
    if model is not None:
        assert repr(model) in str(info.value)


def test_missing_file_is_a_route_file_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(RouteFileError, match="cannot read") as info:
        load_routes(path)
    assert info.value.source == str(path)
