"""The installed package's version, reported by the API and recorded for each worker."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def app_version() -> str:
    try:
        return version("moneyprinter")
    except PackageNotFoundError:
        return "0+unknown"
