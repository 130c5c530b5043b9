"""PostgreSQL under Patroni, with etcd as the store Patroni keeps its leader key in.

Patroni runs beside each PostgreSQL, starts and stops it, and holds a leader key in etcd that
expires unless renewed: when the primary's node dies the key lapses and the other node's Patroni
promotes its replica. With `synchronous_mode` the primary waits for the replica's flush before
a commit returns, and Patroni only ever promotes that synchronous replica, so a write the API
acknowledged is never lost with the primary.

The timing below decides the failover time: the key's `ttl` of 20 s (the least Patroni takes:
it raises a smaller one to 20), renewed every `loop_wait` of 2 s, and `retry_timeout` of 5 s for
etcd or PostgreSQL to answer (Patroni requires loop_wait + 2 * retry_timeout <= ttl). A dead
primary is replaced within about ttl + loop_wait: some 20 s measured on one machine.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from open311.cluster.processes import Daemon
from open311.db.ownership import hand_over

ETCD = Path("/usr/bin/etcd")
SCOPE = "open311"
REPLICATION_ROLE = "replicator"

# What Patroni runs when the node becomes primary or replica ($1 on_role_change, $2 the role).
# pgbouncer hands each new client the server parameters of its pool's first login, in_hot_standby
# among them, and keeps them (pgbouncer issue 859): after a promotion libpq's
# target_session_attrs=read-write would go on hearing "standby" through it and refuse the new
# primary. RECONNECT on its admin console makes it log in afresh as each server connection is
# released, and its clients keep their connections. Patroni calls this as it asks PostgreSQL to
# change, not once it has: the script first waits (up to 30 s) for the control file to show the
# new state, else pgbouncer would log in afresh to the old one.
ROLE_CHANGE = """#!/bin/sh
# Written by open311/cluster/patroni.py: Patroni runs it when this node's role changes.
case "$2" in
  primary|master|promoted) state="in production" ;;
  *) state="in archive recovery" ;;
esac
for _ in $(seq 300); do
  {bindir}/pg_controldata {data_dir} | grep -q "^Database cluster state: *$state" && break
  sleep 0.1
done
PGPASSFILE={passfile} PGCONNECT_TIMEOUT=3 exec {bindir}/psql -X -q -h 127.0.0.1 -p {port} \\
  -U {user} -d pgbouncer -c RECONNECT
"""


@dataclass(frozen=True)
class PoolerConsole:
    """The admin console of the pgbouncer in front of a node: its port, and the admin user
    (known to that pgbouncer only, no database role) and password it takes."""

    port: int
    user: str
    password: str


# Seconds: see the module's docstring.
TTL_S = 20
LOOP_WAIT_S = 2
RETRY_TIMEOUT_S = 5


def etcd(directory: Path, client_port: int, peer_port: int) -> Daemon:
    """A one-member etcd on loopback (a real deployment runs three, on three machines)."""
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return Daemon(
        "etcd",
        [
            str(ETCD),
            "--name=open311",
            f"--data-dir={directory / 'data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=open311={peer}",
            "--initial-cluster-state=new",
            "--log-level=warn",
        ],
        directory,
        user="etcd",
        ready=lambda: _answers(f"{client}/health"),
    )


@dataclass(frozen=True)
class Passwords:
    superuser: str
    replication: str
    rest: str


@dataclass(frozen=True)
class PatroniNode:
    """One PostgreSQL node (`name`) with its Patroni: its data under `directory`."""

    name: str
    directory: Path
    pg_port: int
    rest_port: int
    # Patroni's program, in a virtualenv of Debian's Python that its system user can run (the
    # project's own may sit under a home directory closed to it).
    program: Path
    # The pgbouncer in front of this node, told by Patroni when the node's role changes (see
    # ROLE_CHANGE); None: no pgbouncer to tell.
    pooler: PoolerConsole | None = None

    @property
    def role_change_script(self) -> Path:
        return self.directory / "on_role_change.sh"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "run"

    @property
    def config_file(self) -> Path:
        return self.directory / "patroni.yml"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def daemon(self) -> Daemon:
        """Patroni on its config (it runs PostgreSQL as its child, so as the same user)."""
        return Daemon(
            f"patroni-{self.name}",
            [str(self.program), str(self.config_file)],
            self.directory / "patroni",
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.directory), "LC_ALL": "C.UTF-8"},
            user="postgres",
            ready=lambda: self.role() in ("primary", "replica"),
        )

    def config(self, bindir: Path, etcd_port: int, passwords: Passwords) -> dict[str, Any]:
        """Patroni's configuration of this node (written as JSON, which is YAML)."""
        return {
            "scope": SCOPE,
            "name": self.name,
            "log": {"level": "WARNING"},
            "restapi": {
                "listen": f"127.0.0.1:{self.rest_port}",
                "connect_address": f"127.0.0.1:{self.rest_port}",
                # Reading the state is open (loopback only); changing it needs the password.
                "authentication": {"username": "patroni", "password": passwords.rest},
            },
            "etcd3": {"hosts": [f"127.0.0.1:{etcd_port}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL_S,
                    "loop_wait": LOOP_WAIT_S,
                    "retry_timeout": RETRY_TIMEOUT_S,
                    "maximum_lag_on_failover": 1024 * 1024,
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            # A commit returns once the synchronous replica has applied it,
                            # not only flushed it: a client that keeps no cookie and sends no
                            # Open311-Commit-LSN (most GeoReport apps) reads its own write from
                            # that replica at once too. (Asynchronous replicas rely on the LSN.)
                            "synchronous_commit": "remote_apply",
                            # Reads on the replica are not cancelled by the primary's vacuum.
                            "hot_standby_feedback": "on",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port}",
                "connect_address": f"127.0.0.1:{self.pg_port}",
                "data_dir": str(self.data_dir),
                "bin_dir": str(bindir),
                "pgpass": str(self.directory / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": passwords.superuser},
                    "replication": {
                        "username": REPLICATION_ROLE,
                        "password": passwords.replication,
                    },
                    "rewind": {"username": "postgres", "password": passwords.superuser},
                },
                "callbacks": (
                    {"on_role_change": str(self.role_change_script)} if self.pooler else {}
                ),
                "parameters": {
                    "unix_socket_directories": str(self.socket_dir),
                    "password_encryption": "scram-sha-256",
                },
                # Every connection signs in with a password, as the single-node cluster's
                # (db/cluster.py): the app's role, the superuser, and the replication role.
                "pg_hba": [
                    "local all all scram-sha-256",
                    "host all all 127.0.0.1/32 scram-sha-256",
                    f"host replication {REPLICATION_ROLE} 127.0.0.1/32 scram-sha-256",
                ],
            },
        }

    def write_config(self, bindir: Path, etcd_port: int, passwords: Passwords) -> None:
        """The node's directory for Patroni's user, and the config file, readable by that user
        only: it holds the passwords."""
        user = self.daemon().run_as()
        hand_over(self.directory, user)
        self.config_file.unlink(missing_ok=True)
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w") as file:
            json.dump(self.config(bindir, etcd_port, passwords), file, indent=2)
        if user is not None:
            shutil.chown(self.config_file, user, user)
        if self.pooler is not None:
            self._write_role_change(bindir, user)

    def _write_role_change(self, bindir: Path, user: str | None) -> None:
        """The script Patroni runs on a role change, and the password file it reads (0600)."""
        assert self.pooler is not None
        passfile = self.directory / "pgbouncer-admin.pgpass"
        passfile.unlink(missing_ok=True)
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w") as file:
            file.write(f"127.0.0.1:{self.pooler.port}:pgbouncer:{self.pooler.user}:")
            file.write(f"{self.pooler.password}\n")
        script = ROLE_CHANGE.format(
            passfile=passfile,
            bindir=bindir,
            data_dir=self.data_dir,
            port=self.pooler.port,
            user=self.pooler.user,
        )
        self.role_change_script.write_text(script)
        self.role_change_script.chmod(0o755)
        if user is not None:
            shutil.chown(passfile, user, user)

    def state(self) -> dict[str, Any] | None:
        """What this node's Patroni says of its PostgreSQL (GET /patroni), None if it is down."""
        try:
            with urllib.request.urlopen(f"{self.rest_url}/patroni", timeout=2) as answer:
                return json.load(answer)
        except (OSError, ValueError):
            return None

    def role(self) -> str | None:
        """'primary' or 'replica' while it runs as such (and streams, for a replica)."""
        state = self.state()
        if state is None or state.get("state") != "running":
            return None
        role = state.get("role")
        if role == "master":  # Patroni before 3.0
            return "primary"
        if role == "replica" and state.get("replication_state", "streaming") != "streaming":
            return None
        return role

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, IndexError, ValueError):
            return None


def switchover(node: PatroniNode, password: str, leader: str, candidate: str) -> None:
    """A planned change of primary (POST /switchover): `leader` steps down once `candidate`,
    its synchronous replica, has everything, and `candidate` is promoted; no ttl to wait for."""
    _post(node, password, "switchover", {"leader": leader, "candidate": candidate}, "POST")


def set_parameters(node: PatroniNode, password: str, parameters: dict[str, Any]) -> None:
    """Change PostgreSQL parameters of the whole cluster in Patroni's shared configuration
    (PATCH /config, which each node's Patroni applies at its next loop)."""
    _post(node, password, "config", {"postgresql": {"parameters": parameters}}, "PATCH")


def _post(node: PatroniNode, password: str, path: str, body: dict[str, Any], method: str) -> None:
    """A change asked of Patroni's REST API, with its password (reading needs none)."""
    change = urllib.request.Request(
        f"{node.rest_url}/{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic " + base64.b64encode(f"patroni:{password}".encode()).decode(),
        },
    )
    with urllib.request.urlopen(change, timeout=30) as answer:
        answer.read()


def cluster_state(node: PatroniNode) -> dict[str, Any] | None:
    """The cluster as one node's Patroni sees it (GET /cluster): members, roles, lag."""
    try:
        with urllib.request.urlopen(f"{node.rest_url}/cluster", timeout=2) as answer:
            return json.load(answer)
    except (OSError, ValueError):
        return None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except (OSError, urllib.error.URLError):
        return False
