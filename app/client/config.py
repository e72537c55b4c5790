"""What the client commands read of the environment (and `.env`): which server, and its API key.

The same variables as the service's settings, so a machine that serves with a `.env` talks to
itself with no option: `MONEYPRINTER_URL`, else `MONEYPRINTER_HOST` and `MONEYPRINTER_PORT`;
`MONEYPRINTER_API_KEY`. Nothing else of the service's configuration is read, or checked.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MONEYPRINTER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    url: str = Field("", description="the server; empty: http://host:port")
    host: str = DEFAULT_HOST
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    api_key: str = ""

    @property
    def server_url(self) -> str:
        """`url` when set, else where `moneyprinter serve` listens with the same settings (a
        wildcard address means this machine)."""
        if self.url:
            return self.url.rstrip("/")
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = DEFAULT_HOST
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
