"""Secrets at rest: OAuth tokens are stored encrypted with MONEYPRINTER_SECRET_KEY.

The key is a Fernet key (32 random bytes in URL-safe base64; `moneyprinter youtube key` prints
one): AES-128-CBC with an HMAC-SHA256 over each token, so a stored value can be neither read nor
altered without the key. Losing the key loses the stored tokens (reconnect the accounts); a
wrong key is found at start, not at the first upload.
"""

from __future__ import annotations

import binascii

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyError(Exception):
    """MONEYPRINTER_SECRET_KEY is missing, malformed, or not the key the tokens were stored with."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts and decrypts stored secrets with one key."""

    def __init__(self, key: str) -> None:
        if not key:
            raise SecretKeyError(
                "MONEYPRINTER_SECRET_KEY is not set: it encrypts the stored account tokens "
                "(`moneyprinter youtube key` prints a new one)"
            )
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, binascii.Error):
            raise SecretKeyError(
                "MONEYPRINTER_SECRET_KEY is not a key: 32 random bytes in URL-safe base64 "
                "(`moneyprinter youtube key` prints one)"
            ) from None

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "MONEYPRINTER_SECRET_KEY is not the key the account tokens were stored with: "
                "set that key, or connect the accounts again"
            ) from None

    def open_recent(self, sealed: str, *, max_age_s: int) -> str | None:
        """What `seal` sealed at most `max_age_s` ago with this key; None for anything else
        (older, altered, or sealed with another key)."""
        try:
            return self._fernet.decrypt(sealed.encode(), ttl=max_age_s).decode()
        except InvalidToken:
            return None
