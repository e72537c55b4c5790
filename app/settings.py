"""Settings: the one place that reads the environment (and `.env`)."""

from __future__ import annotations

import ipaddress
import re
import shutil
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.songs import DEFAULT_MAX_SONG_BYTES
from app.storage import ObjectStore, is_object_store, open_store, storage_url_problem
from app.webhooks import secret_key

DEFAULT_PORT = 8080
# An origin as browsers send it: scheme and host, maybe a port, never a path.
ORIGIN = re.compile(r"https?://[^/\s]+")
HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?")
# A setting named so holds a credential (Settings.secret_values).
SECRET_SUFFIXES = ("_key", "_token", "_secret", "_password")


class Settings(BaseSettings):
    """Configuration of the API, the worker and the pipeline.

    The original MoneyPrinter's variable names (`DATABASE_URL`, `OLLAMA_*`, `PEXELS_API_KEY`) are
    read as they are, so its `.env` files keep working; everything new is `MONEYPRINTER_*`.
    """

    model_config = SettingsConfigDict(
        env_prefix="MONEYPRINTER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    env: Literal["development", "production"] = "development"
    database_url: str = Field("", validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    # Connections one process's engine holds open at most, opened as needed (a worker adds one
    # for LISTEN). README, "Postgres", adds them up for several hosts.
    database_pool_size: int = Field(20, ge=1, le=500)
    # `transaction`: DATABASE_URL is a pooler in transaction mode (PgBouncer): no prepared
    # statement outlives its transaction, and LISTEN and migrations use the direct URL below.
    database_pooler: Literal["none", "transaction"] = "none"
    # Postgres itself, not through a pooler; empty: DATABASE_URL.
    direct_database_url: str = ""
    data_dir: Path = Path("data")
    # Where job files, songs and voice samples are kept: empty, the data folder; s3://bucket/prefix,
    # a bucket (app/storage.py), reached with the standard AWS_* variables.
    storage_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    api_key: str = ""
    # With a key: reads (GET, HEAD) stay open to anyone, as before keys covered them.
    public_reads: bool = False
    url_token_ttl_s: int = Field(600, ge=10, le=86_400)
    # Empty: the loopback origins when listening on loopback, else none (app/api/edge.py).
    cors_origins: Annotated[list[str], NoDecode] = []
    # Host names the API answers to besides the loopback ones; empty: from `host` (app/api/edge.py).
    allowed_hosts: Annotated[list[str], NoDecode] = []
    http_header_timeout_s: float = Field(10.0, gt=0)
    http_keep_alive_s: int = Field(5, ge=1)  # uvicorn takes whole seconds
    http_max_concurrency: int = Field(2000, ge=1)  # requests running at once, per process
    # Event streams open at once, per process; keep it below the above, so followers leave room.
    max_event_streams: int = Field(1000, ge=1)

    ollama_base_url: str = Field(
        "http://127.0.0.1:11434",
        validation_alias=AliasChoices("OLLAMA_BASE_URL", "ollama_base_url"),
    )
    ollama_model: str = Field(
        "llama3.1:8b", validation_alias=AliasChoices("OLLAMA_MODEL", "ollama_model")
    )
    pexels_api_key: str = Field(
        "", validation_alias=AliasChoices("PEXELS_API_KEY", "pexels_api_key")
    )
    pexels_base_url: str = "https://api.pexels.com"
    pixabay_api_key: str = Field(
        "",
        validation_alias=AliasChoices(
            "MONEYPRINTER_PIXABAY_API_KEY", "PIXABAY_API_KEY", "pixabay_api_key"
        ),
    )
    pixabay_base_url: str = "https://pixabay.com/api"
    media_dir: Path | None = Field(None, description="local footage folder; <data dir>/media")
    max_download_bytes: int = Field(300 * 1024 * 1024, gt=0)
    footage_memory_videos: int = Field(
        10, ge=0, description="a clip is not used again in this many later videos of the same "
        "subject or YouTube account, unless nothing else is found; 0: no memory",
    )  # fmt: skip

    llm_provider: Literal["auto", "ollama", "openai", "none"] = "auto"
    openai_base_url: str = Field("", description="an OpenAI-compatible server, e.g. …/v1")
    openai_api_key: str = Field(
        "",
        validation_alias=AliasChoices(
            "MONEYPRINTER_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key"
        ),
    )
    openai_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(120.0, gt=0)

    tts_provider: Literal["auto", "piper", "espeak", "openai"] = "auto"
    piper_voice: str = "en_US-joe-medium"
    speech_base_url: str = Field("", description="an OpenAI-compatible /v1/audio/speech server")
    speech_api_key: str = ""
    speech_model: str = "tts-1"
    fonts_dir: Path | None = None

    # 1,500 words: ten minutes of narration (the longest targetSeconds), at 2.5 words a second.
    max_script_words: int = Field(1500, ge=50, le=20_000)
    max_song_bytes: int = Field(DEFAULT_MAX_SONG_BYTES, gt=0)
    max_upload_bytes: int = Field(100 * 1024 * 1024, gt=0)
    max_json_bytes: int = Field(1024 * 1024, gt=0)

    worker_concurrency: int = Field(1, ge=1, le=64)
    poll_interval_s: float = Field(1.0, gt=0)
    listen_notify: bool = True
    job_timeout_s: float = Field(1800.0, gt=0)
    # Added to each job's child process (and its ffmpegs): renders yield the CPU to the API and
    # the worker's own loop on a machine they saturate; 0 keeps the worker's priority.
    render_niceness: int = Field(10, ge=0, le=19)
    stream_poll_interval_s: float = Field(0.5, gt=0)
    cancel_check_interval_s: float = Field(0.5, gt=0)
    heartbeat_interval_s: float = Field(10.0, gt=0)
    lease_s: float = Field(30.0, gt=0)
    shutdown_grace_s: float = Field(30.0, ge=0)
    # POST /api/generate and retry answer 429 while this many jobs are queued; 0: no cap.
    max_queued_jobs: int = Field(1000, ge=0)
    # The most videos one POST /api/batches may queue.
    max_batch_jobs: int = Field(100, ge=1)
    max_attempts: int = Field(3, ge=1, le=20)
    retry_base_s: float = Field(10.0, gt=0)
    retry_cap_s: float = Field(600.0, gt=0)
    # Finished jobs (and their folders) older than this are pruned; 0 keeps them forever.
    retention_days: float = Field(30.0, ge=0)
    retention_interval_s: float = Field(3600.0, gt=0)
    # Sentences spoken and clips downloaded, kept for any job (worker/cache.py): pruned to this
    # size, and of what no job used within the retention age, by each worker every
    # retention_interval_s; 0 turns the cache off.
    cache_max_mb: int = Field(5000, ge=0)
    ffmpeg: str = ""

    # Encrypts stored OAuth tokens (app/crypto.py): a Fernet key, `moneyprinter youtube key`.
    secret_key: str = ""
    # The YouTube Data API and its upload endpoint (`/youtube/v3/…`, `/upload/youtube/v3/…`).
    youtube_api_url: str = "https://www.googleapis.com"
    # The OAuth client (Google's client_secret.json) that connects accounts from the web page and
    # `moneyprinter youtube connect`.
    youtube_client_secrets: Path | None = None
    # Bytes per upload request: a multiple of 256 KiB, as YouTube's resumable protocol asks.
    youtube_chunk_bytes: int = Field(8 * 1024 * 1024, ge=256 * 1024)

    # Webhooks (app/webhooks.py): every job's end is announced to each of these URLs. Only ever
    # from the settings, never from a request: the service cannot be made to call other hosts.
    webhook_urls: Annotated[list[str], NoDecode] = []
    # `whsec_` + base64 of 24–64 random bytes (`moneyprinter webhooks secret` makes one); several,
    # space-separated, while a secret is rotated: each signs every message.
    webhook_secret: str = ""
    webhook_timeout_s: float = Field(15.0, gt=0, le=60)
    # The waits after each failed attempt; when they are used up, the delivery has failed.
    webhook_retry_schedule_s: Annotated[list[float], NoDecode] = [
        5,
        300,
        1800,
        7200,
        18_000,
        36_000,
        50_400,
        72_000,
        86_400,
    ]
    webhook_poll_interval_s: float = Field(1.0, gt=0)

    @field_validator(
        "cors_origins", "allowed_hosts", "webhook_urls", "webhook_retry_schedule_s", mode="before"
    )
    @classmethod
    def _split_on_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port], with no path or "
                    "trailing slash (e.g. http://localhost:3000), or *"
                )
        return origins

    @field_validator("webhook_retry_schedule_s")
    @classmethod
    def _check_schedule(cls, waits: list[float]) -> list[float]:
        if any(not 0 <= wait <= 7 * 86_400 for wait in waits):
            raise ValueError("each wait is between 0 and 604800 seconds (a week)")
        return waits

    @field_validator("webhook_urls")
    @classmethod
    def _check_webhook_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
                raise ValueError(
                    f"{url!r} is not a webhook endpoint: an http:// or https:// URL with a host "
                    "and no #fragment"
                )
        return list(dict.fromkeys(urls))

    @field_validator("youtube_chunk_bytes")
    @classmethod
    def _whole_upload_units(cls, size: int) -> int:
        if size % (256 * 1024):
            raise ValueError("must be a multiple of 262144 (256 KiB), as YouTube requires")
        return size

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        checked = []
        for host in hosts:
            name = "*" if host == "*" else normal_host(host)
            if name is None:
                raise ValueError(
                    f"{host!r} is not a host name or address: give it without scheme, port or "
                    "path (e.g. mp.example.org, 192.168.1.20, [fd00::1]), or *"
                )
            checked.append(name)
        return checked

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production" and not self.api_key:
            raise ValueError("MONEYPRINTER_API_KEY must be set when MONEYPRINTER_ENV=production")
        return self

    @model_validator(mode="after")
    def _check_storage_url(self) -> Settings:
        problem = storage_url_problem(self.storage_url, data_dir=self.data_dir)
        if problem is not None:
            raise ValueError(f"MONEYPRINTER_STORAGE_URL: {problem}")
        return self

    @model_validator(mode="after")
    def _direct_url_behind_a_pooler(self) -> Settings:
        if self.database_pooler == "transaction" and not self.direct_database_url:
            raise ValueError(
                "MONEYPRINTER_DIRECT_DATABASE_URL must name Postgres itself when "
                "MONEYPRINTER_DATABASE_POOLER=transaction: LISTEN and migrations cannot go "
                "through a transaction pooler"
            )
        return self

    @model_validator(mode="after")
    def _check_webhook_secret(self) -> Settings:
        if self.webhook_urls and not self.webhook_secret.split():
            raise ValueError(
                "MONEYPRINTER_WEBHOOK_SECRET must be set when MONEYPRINTER_WEBHOOK_URLS is: "
                "every message is signed (`moneyprinter webhooks secret` prints a new secret)"
            )
        for secret in self.webhook_secret.split():
            try:
                secret_key(secret)
            except ValueError as exc:
                raise ValueError(f"MONEYPRINTER_WEBHOOK_SECRET: {exc}") from None
        return self

    @property
    def webhook_keys(self) -> list[bytes]:
        """The HMAC keys of MONEYPRINTER_WEBHOOK_SECRET, one per secret."""
        return [secret_key(secret) for secret in self.webhook_secret.split()]

    @cached_property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL: the SQLite file in the data folder unless DATABASE_URL says."""
        return async_database_url(self.database_url, data_dir=self.data_dir)

    @cached_property
    def resolved_direct_database_url(self) -> str:
        """Postgres without a pooler in between (LISTEN, migrations): the direct URL, else the
        database URL."""
        return async_database_url(
            self.direct_database_url or self.database_url, data_dir=self.data_dir
        )

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Every configured credential (each `*_key`, `*_token`, `*_secret` or `*_password`
        setting, the database's password): what the worker scrubs from whatever a job reports."""
        names = [name for name in type(self).model_fields if name.endswith(SECRET_SUFFIXES)]
        passwords = [
            urlsplit(url).password or "" for url in (self.database_url, self.direct_database_url)
        ]
        values = {*(str(getattr(self, name)) for name in names), *passwords}
        values.update(unquote(password) for password in passwords)
        values.update(self.webhook_secret.split())  # each of several, as each appears alone
        return tuple(sorted(value for value in values if value))

    @property
    def object_store(self) -> ObjectStore | None:
        """The bucket MONEYPRINTER_STORAGE_URL names; None when files stay in the data folder."""
        return open_store(self.storage_url) if is_object_store(self.storage_url) else None

    @property
    def songs_dir(self) -> Path:
        return self.data_dir / "songs"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def footage_dir(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @cached_property
    def ffmpeg_exe(self) -> str:
        return find_ffmpeg(self.ffmpeg)


def normal_host(name: str) -> str | None:
    """A host name as the Host check compares it: lower case, without a final dot, an IP address
    in its standard spelling (IPv6 without brackets); None when `name` cannot name a host."""
    name = name.lower().removesuffix(".")
    unbracketed = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        return str(ipaddress.ip_address(unbracketed))
    except ValueError:
        pass
    return name if HOST_NAME.fullmatch(name) else None


def find_ffmpeg(configured: str = "") -> str:
    """The ffmpeg to run: `configured` (MONEYPRINTER_FFMPEG), else the system's, else the one the
    imageio-ffmpeg wheel ships."""
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg  # a wheel with a binary inside: imported only when needed

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def async_database_url(url: str, *, data_dir: Path) -> str:
    """Map a database URL (the original's sync spellings included) to its async driver."""
    if not url:
        return f"sqlite+aiosqlite:///{(data_dir / 'moneyprinter.db').resolve()}"
    for sync_prefix, async_prefix in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(sync_prefix):
            return async_prefix + url[len(sync_prefix) :]
    return url
