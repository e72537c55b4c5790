"""Fixtures several integration modules share."""

from tests.support.workers import spawn

__all__ = ["spawn"]
