"""The hosts of tests/support/netns.py, before any test builds on them: a host reaches root's
Postgres through its forwarder and nothing else of the root's loopback or of the outside world,
the root and the other hosts reach a server inside a host until `kill_all`, and nothing is left
on the machine once the block ends, however it ends (or when an earlier run died)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.netns import Host, Hosts, hosts, netns_unusable
from tests.support.processes import free_port

POSTGRES_DSN = urlsplit(
    os.environ.get("MONEYPRINTER_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
)
OUTSIDE = "203.0.113.1"  # TEST-NET-3: reachable through the machine's default route, if anything
PYTHON_TIMEOUT_S = 10.0


@pytest.fixture(autouse=True)
def _usable() -> None:
    reason = netns_unusable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def net() -> Iterator[Hosts]:
    with hosts(2) as net:
        yield net


def python_in(host: Host, code: str) -> subprocess.CompletedProcess[str]:
    """`python -c code` inside the host, the venv's interpreter (the files are the same)."""
    return host.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=PYTHON_TIMEOUT_S
    )


def connect_error(host: Host, address: str, port: int) -> str:
    """What a TCP connection from inside the host to address:port meets: "connected", or the
    error's class and errno."""
    done = python_in(
        host,
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, {port}), timeout=2).close()\n"
        "    print('connected')\n"
        "except OSError as error:\n"
        "    print(type(error).__name__, error.errno)\n",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def machine_state() -> str:
    """The namespaces, links and rules on the machine, as `ip` lists them."""
    return "".join(
        subprocess.run(["ip", *args.split()], capture_output=True, text=True, check=True).stdout
        for args in ("netns list", "-br link", "rule")
    )


def running(pid: int) -> bool:
    """Whether the process is there and not a zombie (pid 1 reaps orphans when it gets to it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_host_reaches_roots_postgres_only_through_its_forwarder(net: Hosts) -> None:
    databases = os.environ.get("MONEYPRINTER_TEST_DATABASES", "sqlite,postgres")
    if "postgres" not in databases or POSTGRES_DSN.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("needs the tests' Postgres on the root's loopback")
    port = POSTGRES_DSN.port or 5432
    net.forward(port)
    host = net[0]
    done = python_in(
        host,
        "import asyncio, asyncpg\n"
        "async def main():\n"
        f"    c = await asyncpg.connect(host={host.gateway!r}, port={port},\n"
        f"        user={POSTGRES_DSN.username!r}, database={POSTGRES_DSN.path.lstrip('/')!r})\n"
        "    print(await c.fetchval('SELECT host(inet_client_addr())'))\n"
        "    await c.close()\n"
        "asyncio.run(main())\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "127.0.0.1"  # the forwarder's side: pg_hba's loopback rule
    # The host's own loopback has no Postgres, and root's 127.0.0.1 is not reachable from it.
    assert connect_error(host, "127.0.0.1", port) == "ConnectionRefusedError 111"


def test_a_host_reaches_nothing_outside_the_hosts(net: Hosts) -> None:
    # Refused at once by the rule, not a timeout: ENETUNREACH (or EHOSTUNREACH by ICMP).
    started = time.monotonic()
    assert connect_error(net[0], OUTSIDE, 80) in ("OSError 101", "OSError 113")
    assert time.monotonic() - started < 2.0
    # No DNS either, and a lookup fails at once rather than after the resolver's timeout.
    started = time.monotonic()
    lookup = python_in(net[0], "import socket; socket.getaddrinfo('example.com', 443)")
    assert "socket.gaierror" in lookup.stderr
    assert time.monotonic() - started < 2.0


def test_the_root_and_other_hosts_reach_a_server_in_a_host_until_it_dies(
    net: Hosts, tmp_path: Path
) -> None:
    (tmp_path / "page.txt").write_text("written by the root")  # the host serves the same files
    server_host, other = net
    server = server_host.popen(
        [sys.executable, "-m", "http.server", "--bind", server_host.address, "--directory",
         str(tmp_path), "8080"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://{server_host.address}:8080/page.txt"
    deadline = time.monotonic() + 10
    while True:
        assert server.poll() is None, "http.server exited"
        try:
            answer = httpx.get(url, timeout=2)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "http.server does not answer"
            time.sleep(0.05)
    assert answer.text == "written by the root"
    fetched = python_in(
        other, f"import urllib.request; print(urllib.request.urlopen({url!r}).read())"
    )
    assert fetched.stdout.strip() == "b'written by the root'", fetched.stderr  # through the root

    server_host.kill_all()
    assert server.returncode == -9
    assert server_host.pids() == set()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_nothing_is_left_when_the_block_ends_even_on_failure() -> None:
    before = machine_state()
    ip_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    with pytest.raises(RuntimeError, match="the test failed"), hosts(2) as net:
        prefix = net.prefix
        net.forward(free_port())  # nothing listens there: socat listens all the same
        forwarders = [int(pid) for pid in _pgrep_socat(prefix)]
        assert len(forwarders) == 2
        in_group = net[0].popen(["sh", "-c", "sleep 60 & sleep 60"])
        net[1].popen(["setsid", "sleep", "60"])  # out of the group: found by its namespace
        wait_until(lambda: len(net[0].pids() | net[1].pids()) >= 3, "not 3 sleeps inside")
        inside = net[0].pids() | net[1].pids()
        raise RuntimeError("the test failed")
    assert in_group.returncode == -9
    assert not any(running(pid) for pid in [*inside, *forwarders])
    after = machine_state()
    assert prefix not in after
    if after == before:  # no one else's hosts up meanwhile: ip_forward as it was
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == ip_forward


def test_what_a_dead_run_left_goes_when_hosts_come_up() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    prefix = f"mp{gone.pid:x}s0"  # as a run with that pid named its hosts
    name = f"{prefix}h1"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(
        ["ip", "link", "add", f"{name}r", "type", "veth", "peer", "name", "eth0", "netns", name],
        check=True,
    )
    inside = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"], start_new_session=True)
    forwarder = subprocess.Popen(
        ["socat", "-lp", prefix, f"TCP4-LISTEN:{free_port()},bind=127.0.0.1", "STDOUT"],
        start_new_session=True,
    )
    try:
        namespace = os.stat(f"/run/netns/{name}").st_ino
        wait_until(lambda: _net_inode(inside.pid) == namespace, "sleep is not in the namespace")
        wait_until(lambda: _pgrep_socat(prefix) == [str(forwarder.pid)], "socat has not started")
        with hosts(1):
            assert inside.wait(5) == -9
            assert forwarder.wait(5) == -9
            assert name not in machine_state()
    finally:  # had the hosts missed them (the namespace goes with the next hosts in any case)
        for process in (inside, forwarder):
            process.kill()
            process.wait()


def _pgrep_socat(prefix: str) -> list[str]:
    done = subprocess.run(["pgrep", "-f", f"socat -lp {prefix} "], capture_output=True, text=True)
    return done.stdout.split()


def _net_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None
