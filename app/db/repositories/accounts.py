"""YouTube accounts: their sealed OAuth secrets, and whether they are still connected."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crypto import SecretBox
from app.db.models import YouTubeAccount, utcnow
from app.db.repositories.base import Repository, rowcount

CONNECTED = "connected"
DISCONNECTED = "disconnected"


class AccountRepository(Repository):
    async def save(
        self,
        *,
        channel_id: str,
        channel_title: str,
        client_id: str,
        client_secret_sealed: str,
        refresh_token_sealed: str,
        token_uri: str,
        scopes: Sequence[str],
    ) -> YouTubeAccount:
        """Connect a channel, or connect it again (a new login replaces the old one)."""
        account = await self.session.scalar(
            select(YouTubeAccount).where(YouTubeAccount.channel_id == channel_id)
        )
        if account is None:
            account = YouTubeAccount(channel_id=channel_id)
            self.session.add(account)
        account.channel_title = channel_title
        account.client_id = client_id
        account.client_secret_sealed = client_secret_sealed
        account.refresh_token_sealed = refresh_token_sealed
        account.token_uri = token_uri
        account.scopes = " ".join(scopes)
        account.status = CONNECTED
        account.status_message = None
        account.updated_at = utcnow()
        await self.session.flush()
        return account

    async def get(self, account_id: int) -> YouTubeAccount | None:
        return await self.session.get(YouTubeAccount, account_id, populate_existing=True)

    async def list(self) -> Sequence[YouTubeAccount]:
        return (
            await self.session.scalars(select(YouTubeAccount).order_by(YouTubeAccount.id))
        ).all()

    async def disconnect(self, account_id: int, *, message: str) -> bool:
        """Mark an account unusable until it is connected again, saying why."""
        result = await self.session.execute(
            update(YouTubeAccount)
            .where(YouTubeAccount.id == account_id)
            .values(status=DISCONNECTED, status_message=message, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def delete(self, account_id: int) -> bool:
        result = await self.session.execute(
            delete(YouTubeAccount)
            .where(YouTubeAccount.id == account_id)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def pick(self, account_id: int | None) -> tuple[YouTubeAccount | None, str | None]:
        """The account a publish goes to: the one named, else the only connected one. With
        none, the reason, as a user should read it."""
        if account_id is not None:
            account = await self.get(account_id)
            if account is None:
                return None, f"There is no YouTube account {account_id} (GET /api/accounts)."
            if account.status != CONNECTED:
                return None, disconnected_reason(account)
            return account, None
        connected = [account for account in await self.list() if account.status == CONNECTED]
        if len(connected) == 1:
            return connected[0], None
        if not connected:
            return None, (
                "No YouTube account is connected: connect one (`moneyprinter youtube import` "
                "or `moneyprinter youtube connect`), then publish with POST /api/jobs/{id}/publish."
            )
        return None, (
            f"{len(connected)} YouTube accounts are connected: say which one (publish.accountId)."
        )

    async def any_sealed_token(self) -> str | None:
        """One stored account's sealed refresh token; None when no account is stored."""
        return await self.session.scalar(select(YouTubeAccount.refresh_token_sealed).limit(1))


def disconnected_reason(account: YouTubeAccount) -> str:
    """Why a disconnected account cannot be published to, as a user should read it."""
    return (
        f"The YouTube account {account.channel_title or account.channel_id} is disconnected: "
        f"{account.status_message or 'connect it again'}"
    )


async def check_secret_key(maker: async_sessionmaker[AsyncSession], key: str) -> None:
    """At start: SecretKeyError when accounts are stored and `key` (MONEYPRINTER_SECRET_KEY)
    is missing or cannot open their tokens, rather than at the first upload. Without accounts
    any key, or none, will do."""
    async with maker() as session:
        sealed = await AccountRepository(session).any_sealed_token()
    if sealed is not None:
        SecretBox(key).open(sealed)
