"""Several "hosts" on this one Linux machine, one network namespace each, for tests that need
processes apart on the network (an API host, worker hosts, a host that dies) while Postgres and
the S3 server stay where the tests run them: on 127.0.0.1 in the root namespace.

    reason = netns_unusable()
    if reason:
        pytest.skip(reason)
    with hosts(3) as net:
        net.forward(5432, s3_port)  # each host reaches root's 127.0.0.1:PORT at host.gateway:PORT
        api, worker_1, worker_2 = net
        api.popen([..., "--host", api.address, "--port", "8080"], env=...)
        httpx.get(f"http://{api.address}:8080/api/health")  # the root reaches a host directly
        worker_1.kill_all()  # the machine dies: SIGKILL to everything it runs

API:
- `netns_unusable() -> str | None`: why hosts cannot be built here (not root, no `ip netns`, no
  socat, no namespace or veth allowed), else None; cached.
- `hosts(n) -> ContextManager[Hosts]`: N hosts up for the block, all of it undone at its end,
  whether the block passes or fails.
- `Hosts`: a sequence of `Host` (`net[0]`, `len(net)`, unpacking) with `prefix` (the names' stem),
  `forward(*ports)` (the forwarders) and `close()` (what the block's end does; idempotent).
- `Host`: `name` (its namespace), `address` (its own, on its `eth0`), `gateway` (the root side of
  its link: where root's forwarded ports are), `veth` (the root-side link's name);
  `command(argv)` (argv run inside it), `popen(argv, **kwargs)` (a process inside it, in a process
  group of its own, killed at the end), `run(argv, **kwargs)` (`subprocess.run` inside it),
  `pids()` (every process inside it, whoever started it), `kill_all()` (SIGKILL to all of them).

The layout. Host K is namespace PREFIX hK, e.g. `mp1f3as0h1`: `lo` up, `eth0` at the second
address of a /30 of NET (10.231.0.0/16 unless MONEYPRINTER_TEST_NETNS_NET says otherwise), a
default route via the first address, which is on its peer `mp1f3as0h1r` in the root namespace.
The root reaches each host's address over that link, and the hosts reach each other through the
root (ip_forward on while any hosts are up, the first value back once none are); two `ip rule`s
send anything else a host sends to "unreachable", so no host reaches the outside world.

Nor its DNS server: each host's /etc/resolv.conf (/etc/netns/NAME/resolv.conf, which `ip netns
exec` mounts over it) names 127.0.0.1, where nothing answers, so that a lookup fails at once. With
the machine's own, the root's "unreachable" answers are rate-limited (per host address, a few a
second) and a lookup, a reverse one too (`python -m http.server` does one of its address), would
wait out the resolver's 5 s timeout. Names in /etc/hosts (localhost) still resolve; use addresses.

Root's services stay on 127.0.0.1, where a host cannot reach them (its 127.0.0.1 is its own). A
forwarder, `socat` in the root namespace listening on the host's gateway:PORT, connects to
127.0.0.1:PORT for it: the service sees a client on 127.0.0.1 (pg_hba's loopback rule applies).
A root service listening on 0.0.0.0 needs no forwarder, and `forward` cannot bind its port: a
host reaches it at its gateway as it is.

Only the network is apart. Processes inside see the same files, users and path Unix sockets (a
host's psql without -h reaches Postgres through /var/run/postgresql: use TCP to gateway), and run
as root; `ip netns exec` gives each its own mount namespace with a /sys of its own network.

Names hold the pid of the pytest process that made them (hex: a veth name has 15 characters at
most), so parallel runs do not meet; whatever a dead pid's run left (namespaces, their processes,
forwarders) goes when the next hosts come up or go down. One lock (/run/moneyprinter-netns/lock)
orders the changes of every run on the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

NET = ipaddress.IPv4Network(os.environ.get("MONEYPRINTER_TEST_NETNS_NET", "10.231.0.0/16"))
STATE = Path("/run/moneyprinter-netns")
ETC_NETNS = Path("/etc/netns")  # what `ip netns exec` mounts over /etc, per namespace
RESOLV_CONF = (
    "# a host of tests/support/netns.py: no DNS, and no waiting for it\nnameserver 127.0.0.1\n"
)
RULE_PREF = 23100  # and 23101: the two rules that keep hosts off the outside world
MAX_HOSTS = 99  # "h99r" is the most a veth name has room for after the prefix
LISTEN_TIMEOUT_S = 5.0
KILL_TIMEOUT_S = 5.0

IP = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if Path(p).exists()), "ip")
SOCAT = shutil.which("socat") or "socat"

# PREFIX = mp<pid hex>s<sequence hex>; a host PREFIXh<K>, its root-side veth PREFIXh<K>r (hex has
# neither s nor h, so the pid reads back)
_NAME = re.compile(r"^(?P<prefix>mp(?P<pid>[0-9a-f]+)s[0-9a-f]+)(h[0-9]+r?)?$")
_sequence = itertools.count()
_open_prefixes: set[str] = set()  # this process's hosts still up: not leftovers


def _ip(*args: str, check: bool = True) -> str:
    """`ip ARGS`; its output. A failure raises with ip's own message, unless `check` is off."""
    done = subprocess.run([IP, *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@functools.cache
def netns_unusable() -> str | None:
    """Why hosts cannot be built on this machine, for `pytest.skip`; None when they can."""
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    if os.geteuid() != 0:
        return "hosts need root (network namespaces, veths, ip_forward)"
    if subprocess.run([IP, "netns", "list"], capture_output=True).returncode != 0:
        return "'ip netns' is not available (apt-get install iproute2)"
    if shutil.which(SOCAT) is None:
        return "socat is not installed (apt-get install socat; scripts/setup.sh --tests does)"
    if not os.access("/proc/sys/net/ipv4/ip_forward", os.W_OK):
        return "/proc/sys/net/ipv4/ip_forward is read-only here"
    return _probe()


def _probe() -> str | None:
    """Root in a container without CAP_SYS_ADMIN / CAP_NET_ADMIN passes every check above and
    still cannot make a namespace or a veth: try both."""
    name = f"mp{os.getpid():x}p"  # outside the hosts' pattern
    try:
        _ip("netns", "add", name)
    except RuntimeError as error:
        return f"cannot create a network namespace ({error})"
    try:
        _ip("link", "add", f"{name}r", "type", "veth", "peer", "name", "eth0", "netns", name)
        _ip("link", "del", f"{name}r")
    except RuntimeError as error:
        return f"cannot create a veth pair ({error})"
    finally:
        _ip("netns", "del", name, check=False)
    return None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One change of hosts at a time on this machine, across pytest processes."""
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _leftover(name: str) -> bool:
    """Whether a name of the hosts' pattern (a prefix, host or veth) is what a run that is gone
    made, or this one and no longer up (a teardown that failed)."""
    match = _NAME.match(name)
    if not match:
        return False
    pid = int(match["pid"], 16)
    if pid == os.getpid():
        return match["prefix"] not in _open_prefixes
    return not Path(f"/proc/{pid}").exists()


def _namespaces() -> list[str]:
    """Every host namespace on the machine, this run's and others'."""
    listed = (line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip())
    return [name for name in listed if _NAME.match(name) and not name.endswith("r")]


def _root_veths() -> list[str]:
    """Every host link's root side on the machine (`ip -br` writes NAME@PEER)."""
    lines = _ip("-br", "link", "show", "type", "veth").splitlines()
    names = (line.split()[0].split("@")[0] for line in lines if line.strip())
    return [name for name in names if _NAME.match(name) and name.endswith("r")]


def _namespace_pids(name: str) -> set[int]:
    """The processes whose network namespace is `name`'s (what `ip netns pids` finds)."""
    try:
        wanted = os.stat(f"/run/netns/{name}")
    except FileNotFoundError:
        return set()
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            # A zombie has no namespace left (ENOENT): it no longer holds the host up.
            theirs = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        if (theirs.st_dev, theirs.st_ino) == (wanted.st_dev, wanted.st_ino):
            found.add(int(entry.name))
    return found


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_namespace(name: str) -> None:
    """SIGKILL to every process in the namespace, again until none is left (one may fork while
    the others die); a process left inside would keep the namespace and its link alive."""
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while pids := _namespace_pids(name):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {sorted(pids)} in {name} outlived SIGKILL")
        time.sleep(0.01)


def _delete_host(name: str, veth: str) -> None:
    """Its processes killed, its link deleted (both ends at once: the namespace's own teardown
    is asynchronous in the kernel), its namespace and its /etc deleted. Whatever is already gone
    is fine."""
    _kill_namespace(name)
    _ip("link", "del", veth, check=False)
    _ip("netns", "del", name, check=False)
    _delete_etc(name)


def _delete_etc(name: str) -> None:
    (ETC_NETNS / name / "resolv.conf").unlink(missing_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (ETC_NETNS / name).rmdir()
    with contextlib.suppress(OSError):  # not empty: someone else's namespaces have theirs there
        ETC_NETNS.rmdir()


def _forwarder_pids() -> dict[int, str]:
    """The forwarders on the machine (socat -lp PREFIX ...), each with its PREFIX."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 3 and Path(os.fsdecode(argv[0])).name == "socat" and argv[1] == b"-lp":
            found[int(entry.name)] = os.fsdecode(argv[2])
    return found


def _clean_leftovers() -> None:
    """Remove what runs that are gone left: their forwarders (which would hold the ports of a
    gateway address given out again), their hosts and their files."""
    for pid, prefix in _forwarder_pids().items():
        if _leftover(prefix):
            _kill_group(pid)  # each forwarder leads its own group: its forks go with it
    for name in _namespaces():
        if _leftover(name):
            _delete_host(name, f"{name}r")
    for veth in _root_veths():  # a link whose namespace went, but not its processes
        if _leftover(veth):
            _ip("link", "del", veth, check=False)
    for etc in ETC_NETNS.glob("mp*"):
        if _leftover(etc.name):
            _delete_etc(etc.name)
    for log in STATE.glob("mp*.log"):
        if _leftover(log.stem):
            log.unlink(missing_ok=True)


def _enable_forwarding() -> None:
    """ip_forward on (hosts reach each other through the root), the value before it kept for
    `_restore_forwarding`, and the two rules: what a host sends goes to another host's /30 or
    nowhere (suppress_prefixlength 0 ignores main's default route)."""
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    saved = STATE / "ip_forward.orig"
    if not saved.exists():  # the first hosts up on the machine; the last down restores it
        saved.write_text(forward.read_text())
    forward.write_text("1\n")
    if not _ip("rule", "show", "pref", str(RULE_PREF + 1)).strip():
        rest = f"from {NET} to {NET} lookup main suppress_prefixlength 0"
        _ip("rule", "add", "pref", str(RULE_PREF), *rest.split())
        _ip("rule", "add", "pref", str(RULE_PREF + 1), "from", str(NET), "unreachable")


def _restore_forwarding() -> None:
    """The rules gone and ip_forward back to its first value, once no hosts are up anywhere."""
    if _namespaces():
        return
    _ip("rule", "del", "pref", str(RULE_PREF), check=False)
    _ip("rule", "del", "pref", str(RULE_PREF + 1), check=False)
    saved = STATE / "ip_forward.orig"
    if saved.exists():
        Path("/proc/sys/net/ipv4/ip_forward").write_text(saved.read_text())
        saved.unlink()


def _free_blocks(n: int) -> list[ipaddress.IPv4Network]:
    """N /30s of NET whose root-side (first) address no interface on the machine has."""
    used = {line.split()[3].split("/")[0] for line in _ip("-4", "-o", "addr", "show").splitlines()}
    free = (block for block in NET.subnets(new_prefix=30) if str(block[1]) not in used)
    blocks = list(itertools.islice(free, n))
    if len(blocks) < n:
        raise RuntimeError(f"no {n} free /30s left in {NET}")
    return blocks


def _listening(address: str, port: int) -> bool:
    """Whether a TCP socket in the root namespace listens on address:port (/proc/net/tcp writes
    the address as the 32-bit number in the machine's byte order, both in hex)."""
    number = int.from_bytes(ipaddress.IPv4Address(address).packed, sys.byteorder)
    wanted = f"{number:08X}:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(line.split()[1] == wanted and line.split()[3] == "0A" for line in lines)


class Host:
    """One host: a network namespace linked to the root namespace, and what runs in it."""

    def __init__(self, name: str, block: ipaddress.IPv4Network) -> None:
        self.name = name
        self.veth = f"{name}r"
        self.gateway = str(block[1])
        self.address = str(block[2])
        self._processes: list[subprocess.Popen[Any]] = []

    def __repr__(self) -> str:
        return f"Host({self.name!r}, address={self.address!r}, gateway={self.gateway!r})"

    def _create(self) -> None:
        _ip("netns", "add", self.name)
        (ETC_NETNS / self.name).mkdir(parents=True, exist_ok=True)
        (ETC_NETNS / self.name / "resolv.conf").write_text(RESOLV_CONF)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.name)
        _ip("addr", "add", f"{self.gateway}/30", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("-n", self.name, "addr", "add", f"{self.address}/30", "dev", "eth0")
        _ip("-n", self.name, "link", "set", "eth0", "up")
        _ip("-n", self.name, "route", "add", "default", "via", self.gateway)

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this host, for whoever starts it themselves (`kill_all` still
        reaches it: it kills by namespace)."""
        return [IP, "netns", "exec", self.name, *argv]

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """A process inside this host (`subprocess.Popen`'s arguments), leading a process group
        of its own so that a kill reaches its children; killed by `kill_all` and at the end."""
        kwargs["start_new_session"] = True
        process = subprocess.Popen(self.command(argv), **kwargs)
        self._processes.append(process)
        return process

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """`subprocess.run` of `argv` inside this host."""
        return subprocess.run(self.command(argv), **kwargs)

    def pids(self) -> set[int]:
        """Every live process inside this host, whoever started it."""
        return _namespace_pids(self.name)

    def kill_all(self) -> None:
        """The machine dies: SIGKILL to the process groups of what `popen` started and to
        every other process inside, then those processes reaped. The host itself stays up."""
        for process in self._processes:
            if process.returncode is None:  # not reaped yet: its pid is still its group's id
                _kill_group(process.pid)
        _kill_namespace(self.name)
        for process in self._processes:
            process.wait(KILL_TIMEOUT_S)


class Hosts(Sequence[Host]):
    """N hosts and their forwarders; `hosts(n)` makes them for a `with` block."""

    def __init__(self, n: int) -> None:
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"1 to {MAX_HOSTS} hosts, not {n}")
        self.prefix = f"mp{os.getpid():x}s{next(_sequence) % 256:x}"
        self._hosts: list[Host] = []
        self._forwarders: list[subprocess.Popen[bytes]] = []
        self._ports: list[int] = []
        self._log = STATE / f"{self.prefix}.log"
        self._closed = False
        _open_prefixes.add(self.prefix)
        try:
            with _locked():
                _clean_leftovers()
                _enable_forwarding()
                for k, block in enumerate(_free_blocks(n), start=1):
                    host = Host(f"{self.prefix}h{k}", block)
                    self._hosts.append(host)
                    host._create()
        except BaseException:
            self.close()
            raise

    @overload
    def __getitem__(self, index: int) -> Host: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Host]: ...

    def __getitem__(self, index: int | slice) -> Host | Sequence[Host]:
        return self._hosts[index]

    def __len__(self) -> int:
        return len(self._hosts)

    def forward(self, *ports: int) -> None:
        """Each host reaches root's 127.0.0.1:PORT at its gateway:PORT from now on: one socat per
        host and port, listening before this returns."""
        for port in ports:
            if port in self._ports:
                continue
            self._ports.append(port)
            for host in self._hosts:
                self._start_forwarder(host.gateway, port)

    def _start_forwarder(self, gateway: str, port: int) -> None:
        # -lp PREFIX names the forwarder, for a later run to find it if this one dies; its own
        # session, so that its per-connection forks die with it; errors to a file, which, unlike
        # a pipe nobody reads, never fills up and stops it.
        with self._log.open("ab") as log:
            process = subprocess.Popen(
                [
                    SOCAT,
                    "-lp",
                    self.prefix,
                    f"TCP4-LISTEN:{port},bind={gateway},reuseaddr,fork",
                    f"TCP4:127.0.0.1:{port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        self._forwarders.append(process)
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while not _listening(gateway, port):
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = self._log.read_text("utf-8", "replace")
                raise RuntimeError(f"no forwarder on {gateway}:{port}:\n{log_text}")
            time.sleep(0.01)

    def close(self) -> None:
        """Every process of the hosts killed, the forwarders stopped, the hosts deleted, and once
        no hosts are left on the machine, ip_forward and the rules as they were. Each step runs
        whatever the one before raised. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.ExitStack() as steps:  # run last first
            steps.callback(self._delete)
            steps.callback(self._stop_forwarders)
            for host in self._hosts:
                steps.callback(host.kill_all)

    def _stop_forwarders(self) -> None:
        for forwarder in self._forwarders:
            if forwarder.returncode is None:  # not reaped yet: its pid is still its group's id
                _kill_group(forwarder.pid)
            forwarder.wait(KILL_TIMEOUT_S)

    def _delete(self) -> None:
        with _locked(), contextlib.ExitStack() as steps:  # run last first
            steps.callback(_restore_forwarding)
            steps.callback(_clean_leftovers)
            steps.callback(self._log.unlink, missing_ok=True)
            steps.callback(_open_prefixes.discard, self.prefix)
            for host in self._hosts:
                steps.callback(_delete_host, host.name, host.veth)


@contextlib.contextmanager
def hosts(n: int) -> Iterator[Hosts]:
    """N hosts up for the block (see the module's docstring), all of it undone at its end."""
    net = Hosts(n)
    try:
        yield net
    finally:
        net.close()
