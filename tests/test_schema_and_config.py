"""The repository's promises about itself: schema file, settings, README."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatql.cli import main
from chatql.config import Settings, documented_settings
from chatql.config_values import ConfigError
from chatql.schema import schema

ROOT = Path(__file__).resolve().parent.parent


def test_schema_file_matches_the_code() -> None:
    on_disk = (ROOT / "schema.graphql").read_text()
    assert on_disk == schema.as_str() + "\n", (
        "schema.graphql is stale: run `.venv/bin/python -m chatql print-schema > schema.graphql`"
    )


def test_print_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["print-schema"]) == 0
    assert "onMessageCreated(chatRoomId: ID!, after: String): Message!" in capsys.readouterr().out


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name, _default, _doc in documented_settings() if f"`{name}`" not in readme]
    assert not missing, f"README does not document {missing}"


def test_settings_defaults_are_development_friendly() -> None:
    settings = Settings.from_env({})
    assert (
        settings.env == "development"
        and settings.graphiql_enabled
        and settings.introspection_enabled
    )
    assert settings.database_url == "sqlite:///./chatql.db"
    assert len(settings.jwt_secret) >= 32  # generated for this process


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHATQL_PORT", "http", "CHATQL_PORT must be an integer"),
        ("CHATQL_PORT", "70000", "CHATQL_PORT must be between 0 and 65535"),
        ("CHATQL_ENV", "prod", "CHATQL_ENV must be one of development, production"),
        ("CHATQL_GRAPHIQL", "maybe", "CHATQL_GRAPHIQL must be true or false"),
        ("CHATQL_DATABASE_URL", "postgres://x", "CHATQL_DATABASE_URL must start with"),
        ("CHATQL_ACCESS_TOKEN_TTL", "5", "CHATQL_ACCESS_TOKEN_TTL must be between"),
        ("CHATQL_SUBSCRIPTION_QUEUE_SIZE", "0", "CHATQL_SUBSCRIPTION_QUEUE_SIZE must be between"),
    ],
)
def test_bad_settings_are_refused_with_their_name(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({variable: value})


def test_production_needs_a_long_secret_and_no_wildcard_origin() -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Settings.from_env({"CHATQL_ENV": "production"})
    secret = "s" * 32
    with pytest.raises(ConfigError, match="may not contain"):
        Settings.from_env(
            {"CHATQL_ENV": "production", "CHATQL_JWT_SECRET": secret, "CHATQL_ALLOWED_ORIGINS": "*"}
        )
    prod = Settings.from_env({"CHATQL_ENV": "production", "CHATQL_JWT_SECRET": secret})
    assert not prod.graphiql_enabled and not prod.introspection_enabled
    assert Settings.from_env(
        {"CHATQL_ENV": "production", "CHATQL_JWT_SECRET": secret, "CHATQL_GRAPHIQL": "true"}
    ).graphiql_enabled


def test_cli_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatql.cli import build_parser, settings_from

    monkeypatch.setenv("CHATQL_PORT", "9000")
    args = build_parser().parse_args(["serve", "--port", "9100", "--host", "0.0.0.0"])
    settings = settings_from(args)
    assert (settings.port, settings.host) == (9100, "0.0.0.0")


def test_cli_reports_bad_flags_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "-3"]) == 2
    assert "configuration error: CHATQL_PORT must be between" in capsys.readouterr().err


def test_every_graphql_example_in_the_readme_is_valid() -> None:
    """The README's examples are what newcomers paste into GraphiQL: they must validate."""
    import re

    from graphql import parse, validate

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```graphql\n(.*?)```", readme, flags=re.S)
    operations: list[str] = []
    for block in blocks:
        current: list[str] = []
        for line in block.splitlines():
            if re.match(r"^(query|mutation|subscription)\b", line) and current:
                operations.append("\n".join(current))
                current = []
            current.append(re.sub(r"#.*$", "", line))
        if current:
            operations.append("\n".join(current))
    assert len(operations) > 40
    for text in operations:
        text = re.sub(r'"[^"]*…[^"]*"', '"x"', text).replace("<Message.cursor>", "x")
        errors = validate(schema._schema, parse(text))  # type: ignore[attr-defined]
        assert not errors, (text, errors)
