"""Behind PgBouncer in transaction mode: the API and a worker run the queue through the pooler
(MONEYPRINTER_DATABASE_POOLER=transaction), LISTEN and migrations go to Postgres directly, and
Postgres sees no more server connections than the pooler's pool, whatever the processes' pools.
Postgres only (SQLite has no server to pool)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.db.repositories import Repositories
from app.db.session import create_sessionmaker, settings_engine
from app.settings import Settings
from tests.integration.test_worker import wait_for
from tests.support.processes import free_port
from tests.support.running import api_client, running_worker

POOL = 3  # PgBouncer's server connections for the test's database
JOBS = 60
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def pooled(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The test's settings with DATABASE_URL through a PgBouncer in transaction mode."""
    direct = make_url(settings.resolved_database_url)
    if direct.get_backend_name() != "postgresql":
        pytest.skip("a pooler sits in front of Postgres; SQLite has no server")
    if not Path(PGBOUNCER).exists():
        pytest.skip("PgBouncer is not installed (the setup step installs it with --tests)")
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    folder.chmod(0o777)  # PgBouncer will not run as root; it drops to `nobody`
    port = free_port()
    (folder / "users.txt").write_text(f'"{direct.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n"
        f"{direct.database} = host={direct.host} port={direct.port or 5432}\n"
        f"[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {POOL}\nmax_client_conn = 500\n"
    )
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if Path("/proc/self").stat().st_uid == 0:
        command[1:1] = ["-u", "nobody"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while asyncio.run(_refused(port, direct.database or "")):
            assert process.poll() is None, "PgBouncer exited"
            assert time.monotonic() < deadline, "PgBouncer did not start"
            time.sleep(0.1)
        through_pooler = direct.set(host="127.0.0.1", port=port)
        yield settings.model_copy(
            update={
                "database_url": through_pooler.render_as_string(hide_password=False),
                "database_pooler": "transaction",
                "direct_database_url": settings.resolved_database_url,
                "resolved_database_url": through_pooler.render_as_string(hide_password=False),
            }
        )
    finally:
        process.terminate()
        process.wait(10)


async def _refused(port: int, database: str) -> bool:
    try:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=port, user="postgres", database=database, statement_cache_size=0
        )
    except (OSError, asyncpg.PostgresError):
        return True
    await connection.close()
    return False


async def server_connections(settings: Settings) -> int:
    """Connections Postgres has open to the test's database, apart from this count's own."""
    dsn = make_url(settings.resolved_direct_database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        count = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return int(count)


async def test_the_queue_runs_through_pgbouncer_in_transaction_mode(pooled: Settings) -> None:
    assert pooled.database_pool_size > POOL  # each process would open more than the pooler has
    engine = settings_engine(pooled)
    maker = create_sessionmaker(engine)
    try:
        async with api_client(pooled) as client:
            queued = [
                (await client.post("/api/generate", json={"videoSubject": f"s{n}"})).json()
                for n in range(5)
            ]
            assert all(answer["status"] == "success" for answer in queued)
            async with maker.begin() as session:
                for _ in range(JOBS):
                    await Repositories(session).jobs.create(payload={}, kind="noop")
            peak = 0
            worker_settings = pooled.model_copy(update={"worker_concurrency": 8})
            async with running_worker(worker_settings, maker):

                async def drained() -> bool:
                    nonlocal peak
                    peak = max(peak, await server_connections(pooled))
                    listed = (await client.get("/api/jobs?status=completed&limit=1")).json()
                    return bool(listed["total"] >= JOBS)

                await wait_for(drained, timeout_s=60)
            metrics = (await client.get("/api/metrics")).json()
    finally:
        await engine.dispose()
    assert metrics["jobs"]["completed"] == JOBS
    # The pooler's connections, the worker's LISTEN (direct), and the API's NOTIFY through it.
    assert peak <= POOL + 1, peak
