"""Outside services and local engines, one module per capability: a Protocol, its offline
default, and its real clients. Vendor errors become `worker.errors.ProviderError` at this
boundary. Providers import nothing from `worker.pipeline`."""
