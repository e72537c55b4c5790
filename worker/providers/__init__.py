"""Outside services and local engines, one module per capability: a Protocol, its offline
default, and its real clients. Vendor errors become ProviderError at this boundary."""

from worker.providers.errors import ProviderError

__all__ = ["ProviderError"]
