"""Settings: one frozen object built from `CHATQL_*` environment variables.

Every value is validated when the process starts, with one clear message per bad value, so a
misconfigured server refuses to start instead of failing on the first request. Each variable's
own format is checked by its parser (`config_values`); rules that tie several together are in
`Settings.validated`.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from chatql import config_values as values
from chatql.config_values import ConfigError

if TYPE_CHECKING:
    from chatql.persisted_documents import TrustedDocuments

log = logging.getLogger("chatql.config")

ENVIRONMENTS = ("development", "production")
MIN_PRODUCTION_SECRET_BYTES = 32


def setting(default: Any, parse: values.Parser, doc: str, *, secret: bool = False) -> Any:
    """A field read from `CHATQL_<FIELD NAME IN CAPITALS>`; a `secret` one stays out of repr."""
    return field(default=default, repr=not secret, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """All of ChatQL's configuration. See README "Configuration" for the same list."""

    env: str = setting("development", values.one_of(*ENVIRONMENTS), "development or production")
    host: str = setting("127.0.0.1", values.text, "interface to listen on")
    port: int = setting(8000, values.int_between(0, 65535), "TCP port to listen on")
    database_url: str = setting(
        "sqlite:///./chatql.db",
        values.text,
        "sqlite:///path.db or mongodb://host/db?replicaSet=rs0",
    )
    jwt_secret: str = setting("", values.text, "HS256 signing secret (>= 32 bytes in production)")
    jwt_issuer: str = setting("chatql", values.text, "iss claim of access tokens")
    jwt_audience: str = setting("chatql", values.text, "aud claim of access tokens")
    api_keys: str = setting(
        "",
        values.api_keys,
        "comma-separated <username>=<key> entries: `x-api-key: <key>` acts as that account",
        secret=True,
    )
    access_token_ttl: int = setting(
        900, values.int_between(30, 86400), "access token lifetime, seconds"
    )
    refresh_token_ttl: int = setting(
        30 * 86400, values.int_between(60, 365 * 86400), "refresh token lifetime, seconds"
    )
    allowed_origins: tuple[str, ...] = setting(
        (), values.text_list, "comma-separated origins allowed for CORS and WebSockets"
    )
    graphiql: bool | None = setting(None, values.boolean, "serve GraphiQL (default: dev only)")
    introspection: bool | None = setting(None, values.boolean, "allow introspection (dev only)")
    get_queries: bool | None = setting(
        None, values.boolean, "allow queries over GET (dev only: GET invites CSRF)"
    )
    metrics: bool | None = setting(
        None,
        values.boolean,
        "serve GET /metrics, Prometheus text (default: on in development, or when "
        "CHATQL_METRICS_TOKEN or CHATQL_METRICS_PORT is set)",
    )
    metrics_token: str = setting(
        "",
        values.metrics_token,
        "bearer token GET /metrics requires (>= 16 characters; empty: none)",
    )
    metrics_port: int = setting(
        0,
        values.int_between(0, 65535),
        "serve /metrics on this port only, not on CHATQL_PORT (0: same port)",
    )
    metrics_host: str = setting(
        "", values.text, "interface of CHATQL_METRICS_PORT's listener (default: CHATQL_HOST)"
    )
    log_format: str = setting(
        "text", values.one_of("text", "json"), "log lines as text or JSON (one object a line)"
    )
    federation: bool = setting(
        False, values.boolean, "serve as an Apollo Federation 2 subgraph (_service, _entities)"
    )
    trusted_proxies: tuple[str, ...] = setting(
        (),
        values.trusted_proxies,
        "proxy addresses (IPs or CIDRs, or *) whose X-Forwarded-For/-Proto are believed",
    )
    web_app: bool = setting(True, values.boolean, "serve the web app at /")
    web_dir: str = setting(
        "", values.text, "directory of the built web app (default: chatql/static/app)"
    )
    log_level: str = setting(
        "info", values.one_of("debug", "info", "warning", "error"), "server log level"
    )
    argon2_time_cost: int = setting(3, values.int_between(1, 20), "argon2id passes")
    argon2_memory_cost: int = setting(
        65536, values.int_between(1024, 4 * 1024 * 1024), "argon2id KiB"
    )
    argon2_parallelism: int = setting(1, values.int_between(1, 16), "argon2id lanes")
    password_workers: int = setting(2, values.int_between(1, 64), "threads hashing passwords")
    subscription_queue_size: int = setting(
        1000,
        values.int_between(1, 1_000_000),
        "events buffered per subscriber before it is dropped",
    )
    ws_connection_init_timeout: float = setting(
        10.0, values.float_between(0.1, 3600), "seconds a WebSocket may wait before connection_init"
    )
    ws_max_subscriptions: int = setting(
        100, values.int_between(1, 100_000), "subscriptions per WebSocket connection"
    )
    ws_keepalive_interval: float = setting(
        15.0,
        values.float_between(0, 3600),
        "seconds between legacy graphql-ws keep-alives (0 = off)",
    )
    sse_keepalive_interval: float = setting(
        12.0,
        values.float_between(0, 3600),
        "seconds between keep-alive comments on SSE streams (0 = off)",
    )
    appsync_keepalive_interval: float = setting(
        60.0,
        values.float_between(0.1, 3600),
        "seconds between AppSync realtime `ka` frames; connectionTimeoutMs is 5 times it",
    )
    rate_limit_messages: str = setting(
        "10/10", values.rate, "createMessage per user: COUNT/SECONDS burst, or off"
    )
    rate_limit_auth: str = setting(
        "10/60", values.rate, "register/login/refreshToken per client IP + username, or off"
    )
    typing_timeout: float = setting(
        8.0, values.float_between(1, 600), "seconds a typing indicator lasts"
    )
    presence_grace: float = setting(
        10.0, values.float_between(0, 3600), "seconds after the last socket closes before OFFLINE"
    )
    presence_heartbeat: float = setting(
        30.0, values.float_between(1, 3600), "seconds between a process's connection heartbeats"
    )
    presence_stale_after: float = setting(
        90.0,
        values.float_between(3, 86400),
        "connections not heart-beaten for this long are dropped",
    )
    bootstrap_admin: str = setting("", values.text, "username promoted to global ADMIN at start-up")
    instance_name: str = setting(
        "", values.text, "names this process's saved change-feed position (default host:port)"
    )
    gc_full_interval: float = setting(
        300.0,
        values.float_between(0, 86400),
        "seconds between full garbage collections (0: Python's own)",
    )
    history_cache: bool = setting(
        True, values.boolean, "reuse messagesByRoom answers until the room changes"
    )
    sqlite_read_connections: int = setting(
        2, values.int_between(1, 32), "SQLite reader connections"
    )
    sqlite_cache_mb: int = setting(
        64, values.int_between(1, 65536), "MiB of page cache each SQLite connection may fill"
    )
    sqlite_synchronous: str = setting(
        "normal", values.one_of("normal", "full"), "normal: survives crashes; full: power loss too"
    )
    # Files: attachments and avatars (chatql/services/files.py, chatql/blobs).
    files_url: str = setting(
        "file:./files",
        values.files_url,
        "file:./dir, or s3://bucket/prefix?endpoint_url=…&region=…",
    )
    max_upload_bytes: int = setting(
        25 * 1024 * 1024, values.int_between(1, 2**40), "bytes per uploaded file"
    )
    upload_types: str = setting(
        "",
        values.upload_types,
        "allowed MIME types, comma-separated, type/* allowed (default: list)",
    )
    file_url_ttl: int = setting(
        3600, values.int_between(10, 7 * 86400), "seconds a signed file URL is valid"
    )
    upload_ttl: int = setting(
        86400,
        values.int_between(10, 30 * 86400),
        "seconds an upload may stay incomplete or unattached",
    )
    file_delete_grace: int = setting(
        600,
        values.int_between(0, 30 * 86400),
        "seconds before a deleted message's files are removed",
    )
    max_image_pixels: int = setting(
        50_000_000,
        values.int_between(1, 2**31),
        "pixels an image may have (bigger: refused as a bomb)",
    )
    rate_limit_uploads: str = setting("30/60", values.rate, "createUpload per user, or off")
    # Accounts for a public service (chatql/services/account_*.py, chatql/mail, chatql/oidc).
    public_url: str = setting(
        "", values.public_url, "the app's address, for links in mails (default http://host:port)"
    )
    email_mode: str | None = setting(
        None,
        values.one_of("off", "optional", "required"),
        "emails on accounts: off, optional or required (default: optional with SMTP or in "
        "development, else off)",
    )
    smtp_url: str = setting(
        "", values.smtp_url, "smtp://user:pass@host:587 (STARTTLS when offered), smtps://… (TLS)"
    )
    mail_from: str = setting("ChatQL <no-reply@localhost>", values.text, "From: of every mail")
    email_token_ttl: int = setting(
        2 * 86400, values.int_between(60, 30 * 86400), "seconds an email verification link is valid"
    )
    reset_token_ttl: int = setting(
        3600, values.int_between(60, 7 * 86400), "seconds a reset link is valid"
    )
    rate_limit_mail: str = setting(
        "3/900", values.rate, "verification and reset mails per address (and per IP x 5), or off"
    )
    terms_version: str = setting(
        "", values.text, "when set, register needs acceptTerms: true and records this version"
    )
    terms_url: str = setting(
        "", values.text, "where the terms of service are (shown by the web app)"
    )
    username_cooldown: int = setting(
        30 * 86400,
        values.int_between(0, 365 * 86400),
        "seconds a changed username stays reserved for its owner",
    )
    guest_access: bool = setting(False, values.boolean, "allow startGuestSession (read-only)")
    guest_ttl: int = setting(
        86400, values.int_between(60, 30 * 86400), "seconds a guest account lasts"
    )
    rate_limit_guests: str = setting(
        "5/3600", values.rate, "startGuestSession per client IP, or off"
    )
    deleted_user_messages: str = setting(
        "keep",
        values.one_of("keep", "remove"),
        "deleteAccount: keep messages (by 'Deleted user') or remove them",
    )
    oidc_providers: str = setting(
        "",
        values.oidc_providers,
        'JSON {"google": {"client_id": …, "client_secret": …}, "corp": {"issuer": …, …}}',
    )
    oidc_redirect_uris: tuple[str, ...] = setting(
        (),
        values.text_list,
        "app URLs a social sign-in may return to (default <public url>/login/callback)",
    )
    # Live streams (services/streams.py): the control plane.
    stream_viewer_interval: float = setting(
        1.0, values.float_between(0.05, 60), "seconds between viewer-count updates sent to watchers"
    )
    stream_sample_interval: float = setting(
        10.0, values.float_between(0.1, 3600), "seconds per viewer-count sample in stream analytics"
    )
    rate_limit_streams: str = setting("30/3600", values.rate, "createStream per user, or off")
    # Media plane (chatql/media_plane): nginx-rtmp ingest, ffmpeg HLS ladder, nginx playback.
    media: bool = setting(False, values.boolean, "run nginx-rtmp and ffmpeg for live video")
    rtmp_port: int = setting(1935, values.int_between(1, 65535), "RTMP ingest port (nginx-rtmp)")
    media_http_port: int = setting(8088, values.int_between(1, 65535), "HLS playback port (nginx)")
    media_dir: str = setting("./media", values.text, "folder for nginx's files, HLS and replays")
    media_ladder: str = setting(
        "720p:2800k,480p:1200k,240p:400k",
        values.media_ladder,
        "HLS renditions: HEIGHTp:VIDEOk[:AUDIOk]",
    )
    hls_segment_seconds: int = setting(
        1, values.int_between(1, 6), "HLS segment length = keyframe interval"
    )
    media_public_url: str = setting(
        "", values.public_url, "HLS server's public base URL (default http://<public host>:<port>)"
    )
    rtmp_public_url: str = setting(
        "",
        values.rtmp_url,
        "ingest URL given to broadcasters (default rtmp://<public host>:<port>/live)",
    )
    media_hook_secret: str = setting(
        "", values.text, "secret nginx sends on its hooks (default: random per process)"
    )
    nginx_path: str = setting(
        "", values.text, "nginx binary (default: on PATH, else /usr/sbin/nginx)"
    )
    ffmpeg_path: str = setting("", values.text, "ffmpeg binary (default: on PATH)")
    # The AI assistant (chatql/services/assistant.py): on when a base URL and a model are set.
    assistant_base_url: str = setting(
        "",
        values.api_url,
        "OpenAI-compatible API, e.g. https://api.openai.com/v1 (empty: no assistant)",
    )
    assistant_model: str = setting("", values.text, "the model the API serves, e.g. gpt-4o-mini")
    assistant_api_key: str = setting(
        "", values.text, "the API's key (servers that need none: empty)"
    )
    assistant_username: str = setting("assistant", values.username, "the bot user's username")
    assistant_display_name: str = setting("Assistant", values.text, "the bot user's display name")
    assistant_system_prompt: str = setting(
        "", values.text, "instructions for the model (default: a short built-in one)"
    )
    assistant_context_messages: int = setting(
        30, values.int_between(1, 200), "recent messages of the room sent with a question"
    )
    assistant_context_tokens: int = setting(
        6000,
        values.int_between(200, 1_000_000),
        "token budget of a question's context (4 characters a token)",
    )
    assistant_max_tokens: int = setting(
        1000, values.int_between(0, 1_000_000), "tokens an answer may have (0: the API's default)"
    )
    assistant_timeout: float = setting(
        60.0,
        values.float_between(0.1, 3600),
        "seconds the API may stay silent before a reply gives up",
    )
    rate_limit_assistant: str = setting(
        "5/60", values.rate, "questions to the assistant per user (a room: 3 times that), or off"
    )
    # Persisted documents (chatql/persisted_documents.py): documents sent by hash.
    apq: bool = setting(
        True, values.boolean, "accept automatic persisted queries (Apollo's protocol, hash first)"
    )
    apq_cache_entries: int = setting(
        1000,
        values.int_between(1, 1_000_000),
        "persisted queries remembered per process (least used go)",
    )
    apq_cache_bytes: int = setting(
        4 << 20,
        values.int_between(1024, 2**31),
        "bytes of persisted query text remembered per process",
    )
    trusted_documents: str = setting(
        "",
        values.text,
        "a manifest of the only documents that may run (or web-app: the web app's own)",
    )
    # Request limits (chatql/security): 0 turns each one off.
    max_query_depth: int = setting(
        10, values.int_between(0, 1000), "field levels per operation (0 = off)"
    )
    max_aliases: int = setting(
        15, values.int_between(0, 100_000), "aliases per operation (0 = off)"
    )
    max_tokens: int = setting(
        2000, values.int_between(0, 1_000_000), "tokens per document (0 = off)"
    )
    max_directives: int = setting(
        50, values.int_between(0, 100_000), "directives per operation (0 = off)"
    )
    max_query_cost: int = setting(
        5000, values.int_between(0, 2**53 - 1), "static cost per operation (0 = off)"
    )
    max_representations: int = setting(
        100, values.int_between(0, 100_000), "entity representations per _entities call (0 = off)"
    )
    max_body_bytes: int = setting(
        65536, values.int_between(0, 2**31), "HTTP request body bytes (0 = off)"
    )
    max_ws_message_bytes: int = setting(
        65536, values.int_between(0, 2**31), "WebSocket message bytes (0 = uvicorn's 16 MiB)"
    )
    max_connections_per_user: int = setting(
        20,
        values.int_between(0, 1_000_000),
        "authenticated WebSockets and SSE subscription streams per user and process (0 = off)",
    )

    @property
    def assistant_enabled(self) -> bool:
        return bool(self.assistant_base_url and self.assistant_model)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def base_url(self) -> str:
        """Where people reach this server: links in mails and OpenID redirects use it."""
        if self.public_url:
            return self.public_url
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def email_enabled(self) -> bool:
        return self.effective_email_mode != "off"

    @property
    def effective_email_mode(self) -> str:
        if self.email_mode is not None:
            return self.email_mode
        return "optional" if self.smtp_url or not self.is_production else "off"

    @property
    def login_redirect_uris(self) -> tuple[str, ...]:
        return self.oidc_redirect_uris or (f"{self.base_url}/login/callback",)

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.is_production) if self.graphiql is None else self.graphiql

    @property
    def get_queries_enabled(self) -> bool:
        return (not self.is_production) if self.get_queries is None else self.get_queries

    @property
    def introspection_enabled(self) -> bool:
        return (not self.is_production) if self.introspection is None else self.introspection

    @property
    def metrics_enabled(self) -> bool:
        if self.metrics is not None:
            return self.metrics
        return not self.is_production or bool(self.metrics_token or self.metrics_port)

    def load_trusted_documents(self) -> TrustedDocuments | None:
        """CHATQL_TRUSTED_DOCUMENTS's manifest, or None; ConfigError if it is not one."""
        from chatql.persisted_documents import TrustedDocuments, manifest_path
        from chatql.webapp import DEFAULT_DIR

        if not self.trusted_documents:
            return None
        path = manifest_path(self.trusted_documents, self.web_dir, DEFAULT_DIR)
        try:
            return TrustedDocuments.load(path)
        except ValueError as exc:
            raise ConfigError(f"CHATQL_TRUSTED_DOCUMENTS: {exc}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every `CHATQL_*` variable; raise ConfigError naming each bad one."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        known = set()
        for f in fields(cls):
            name = f"CHATQL_{f.name.upper()}"
            known.add(name)
            raw = environ.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = f.metadata["parse"](name, raw)
            except ConfigError as exc:
                problems.append(str(exc))
        unknown = sorted(
            k for k in environ if k.startswith("CHATQL_") and k not in known and k not in IGNORED
        )
        for name in unknown:
            log.warning("ignoring unknown setting %s", name)
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(**values).validated()

    def validated(self) -> Settings:
        """Check rules that involve several values; fill in a development secret."""
        from chatql.media_plane.settings import problems as media_problems

        if found := media_problems(self):
            raise ConfigError("; ".join(found))
        if bool(self.assistant_base_url) != bool(self.assistant_model):
            raise ConfigError(
                "CHATQL_ASSISTANT_BASE_URL and CHATQL_ASSISTANT_MODEL go together: set both "
                "for the assistant, or neither"
            )
        if not (
            self.database_url.startswith("sqlite:")
            or self.database_url.startswith("mongodb://")
            or self.database_url.startswith("mongodb+srv://")
        ):
            raise ConfigError(
                "CHATQL_DATABASE_URL must start with sqlite:, mongodb:// or mongodb+srv://, "
                f"got {self.database_url!r}"
            )
        if self.trusted_documents:
            self.load_trusted_documents()
            if self.graphiql_enabled:
                log.warning("GraphiQL is on, but only CHATQL_TRUSTED_DOCUMENTS may run")
        if self.metrics_port and self.metrics_port == self.port:
            raise ConfigError(
                "CHATQL_METRICS_PORT must differ from CHATQL_PORT (or be 0 to serve /metrics "
                "on CHATQL_PORT)"
            )
        if self.is_production:
            if len(self.jwt_secret.encode()) < MIN_PRODUCTION_SECRET_BYTES:
                raise ConfigError(
                    "CHATQL_JWT_SECRET must be set to at least "
                    f"{MIN_PRODUCTION_SECRET_BYTES} bytes when CHATQL_ENV=production"
                )
            if "*" in self.allowed_origins:
                raise ConfigError(
                    "CHATQL_ALLOWED_ORIGINS may not contain '*' when CHATQL_ENV=production"
                )
            if self.email_enabled and not self.smtp_url:
                raise ConfigError(
                    f"CHATQL_EMAIL_MODE={self.effective_email_mode} needs CHATQL_SMTP_URL "
                    "when CHATQL_ENV=production (or set CHATQL_EMAIL_MODE=off)"
                )
            if (self.email_enabled or self.oidc_providers) and not self.public_url:
                raise ConfigError(
                    "CHATQL_PUBLIC_URL must be set when CHATQL_ENV=production and emails or "
                    "social sign-in are on (links and redirects point there)"
                )
            return self
        if not self.jwt_secret:
            log.warning(
                "CHATQL_JWT_SECRET is not set: using a random secret; tokens end with the process"
            )
            return replace(self, jwt_secret=secrets.token_urlsafe(48))
        return self


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, description) for every setting; the README is checked against it."""
    return [(f"CHATQL_{f.name.upper()}", f.default, f.metadata["doc"]) for f in fields(Settings)]


# Variables read by the test suite, not by the server.
IGNORED = frozenset({"CHATQL_TEST_MONGO_URL"})
