"""The whole several-machine arrangement on this machine's loopback, under var/cluster/.

What runs, in the order `up` starts it (README: Running on several machines says what each is
in a real deployment):

- etcd, where Patroni keeps the leader key;
- two PostgreSQL+PostGIS nodes under Patroni, a primary and its synchronous replica;
- a pgbouncer in front of each, in transaction mode (and a session-mode alias for LISTEN);
- Redis for the rate limits, shared by the app nodes;
- an S3-compatible store for photos (moto's server: the same S3 API as MinIO or AWS);
- two app nodes (gunicorn), each with a worker beside it, all with the same settings:
  the primary found by libpq among both pgbouncers (target_session_attrs=read-write), reads
  from whichever node is the replica (prefer-standby), no statement prepared;
- nginx in front, with both app nodes as one upstream.

Nothing of this is kept in memory of the command that starts it: each program has its pid file
and log under var/cluster/, so `down` (or a test killing one node) finds them afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2.extensions import encrypt_password

from open311.cluster.patroni import Passwords, PatroniNode, PoolerConsole, etcd
from open311.cluster.processes import Daemon, ProcessError
from open311.config import LOCAL_CLUSTER_APP_ROLE, PROJECT_ROOT
from open311.db.cluster import (
    APP_ROLE_ATTRIBUTES,
    find_bindir,
    port_is_free,
    prepare_database,
    secret,
)
from open311.db.pgbouncer import LocalPgbouncer
from open311.db.redis_server import LocalRedis
from open311.serving import gunicorn, nginx
from open311.serving.supervisor import tcp_port_accepts

CLUSTER_ROOT = PROJECT_ROOT / "var" / "cluster"
# Below Linux's ephemeral ports (32768-60999): a port there may be held at any moment as the
# local end of some outgoing connection, and a server then cannot listen on it.
DEFAULT_BASE_PORT = 15400
DATABASE = "open311"
# pgbouncer's alias of the database in session mode: the worker's LISTEN needs one connection
# kept for the whole session, which transaction mode does not give.
SESSION_DATABASE = "open311_session"
MEDIA_BUCKET = "open311-media"
# pgbouncer's admin console user (no database role): Patroni's role-change script signs in as it.
POOLER_ADMIN = "pgbouncer_admin"
# gunicorn workers per app node.
NODE_WORKERS = 2


class ClusterUpError(RuntimeError):
    """A part of the cluster that would not start or is not as it should be."""


@dataclass(frozen=True)
class Topology:
    """Where each part lives: one directory and one port (base_port + offset) each."""

    root: Path = CLUSTER_ROOT
    base_port: int = DEFAULT_BASE_PORT
    nodes: int = 2

    # Ports: nginx at the base, then each kind of program in its own ten.
    @property
    def http_port(self) -> int:
        return self.base_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _port(self, kind: int, index: int = 0) -> int:
        return self.base_port + 10 * kind + index

    @property
    def patroni_program(self) -> Path:
        """`make cluster` installs it once for every cluster of this checkout."""
        return CLUSTER_ROOT / "patroni-venv" / "bin" / "patroni"

    # Secrets, each generated once and kept in a file of mode 0600.
    def _secret(self, name: str) -> str:
        folder = self.root / "secrets"
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        return secret(folder / f"{name}.password")

    def passwords(self) -> Passwords:
        return Passwords(
            superuser=self._secret("postgres"),
            replication=self._secret("replicator"),
            rest=self._secret("patroni-rest"),
        )

    def app_password(self) -> str:
        return self._secret("open311")

    # The parts.
    def etcd(self) -> Daemon:
        return etcd(self.root / "etcd", self._port(1), self._port(1, 1))

    def database_nodes(self) -> list[PatroniNode]:
        return [
            PatroniNode(
                f"node{i}",
                self.root / f"db{i}",
                pg_port=self._port(2, i),
                rest_port=self._port(3, i),
                program=self.patroni_program,
                pooler=PoolerConsole(
                    self._port(4, i), POOLER_ADMIN, self._secret("pgbouncer-admin")
                ),
            )
            for i in range(self.nodes)
        ]

    def _pooler_dir(self, index: int) -> Path:
        return self.root / f"pgbouncer{index}"

    def poolers(self) -> list[LocalPgbouncer]:
        """One pgbouncer per database node, in front of that node only (on a real database
        machine, beside its PostgreSQL): which of them reaches the primary is libpq's concern."""
        return [
            LocalPgbouncer(
                self._pooler_dir(i),
                self._port(4, i),
                databases={
                    DATABASE: f"host=127.0.0.1 port={node.pg_port} dbname={DATABASE}",
                    SESSION_DATABASE: (
                        f"host=127.0.0.1 port={node.pg_port} dbname={DATABASE} pool_mode=session"
                    ),
                },
                users={
                    LOCAL_CLUSTER_APP_ROLE: self.app_password(),
                    POOLER_ADMIN: self._secret("pgbouncer-admin"),
                },
                admin_users=[POOLER_ADMIN],
            )
            for i, node in enumerate(self.database_nodes())
        ]

    def redis(self) -> LocalRedis:
        return LocalRedis(self.root / "redis", self._port(5))

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self._port(5, 1)}"

    def s3(self) -> Daemon:
        """moto's S3 server: photos must be reachable from every app node, so not on a disk."""
        program = Path(sys.executable).with_name("moto_server")
        port = self._port(5, 1)
        return Daemon(
            "s3",
            [str(program), "-H", "127.0.0.1", "-p", str(port)],
            self.root / "s3",
            ready=tcp_port_accepts("127.0.0.1", port),
        )

    def _database_url(self, database: str, attrs: str, hosts: list[int]) -> str:
        listed = "&".join(f"host=127.0.0.1:{port}" for port in hosts)
        return (
            f"postgresql+psycopg2://{LOCAL_CLUSTER_APP_ROLE}:{self.app_password()}@/{database}"
            f"?{listed}&target_session_attrs={attrs}&connect_timeout=3"
        )

    def app_env(self) -> dict[str, str]:
        """The settings every app node and worker shares: nothing a request needs may differ
        from one node to the other."""
        ports = [pooler.port for pooler in self.poolers()]
        return {
            "DATABASE_URL": self._database_url(DATABASE, "read-write", ports),
            "DATABASE_REPLICA_URLS": self._database_url(
                DATABASE, "prefer-standby", list(reversed(ports))
            ),
            "DATABASE_LISTEN_URL": self._database_url(SESSION_DATABASE, "read-write", ports),
            "OPEN311_PREPARED_STATEMENTS": "off",
            "REDIS_URL": self.redis().url(),
            "OPEN311_SECRET_KEY": self._secret("flask-secret-key"),
            "OPEN311_METRICS_TOKEN": self._secret("metrics-token"),
            "OPEN311_MEDIA_S3_BUCKET": MEDIA_BUCKET,
            "OPEN311_MEDIA_S3_ENDPOINT_URL": self.s3_url,
            "OPEN311_MEDIA_S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "open311-cluster",
            "AWS_SECRET_ACCESS_KEY": self._secret("s3"),
            "OPEN311_BEHIND_PROXY": "1",
            "OPEN311_TRUSTED_HOSTS": "127.0.0.1,localhost",
            "OPEN311_PUBLIC_URL": f"{self.url}/open311/v2",
            # Receivers on loopback (tests/cluster's), and a delivery whose worker died taken
            # over by another within 10 s rather than 25.
            "OPEN311_WEBHOOK_ALLOW_PRIVATE": "1",
            "OPEN311_WEBHOOK_TIMEOUT_S": "5",
            "OPEN311_DELIVERY_LEASE_MARGIN_S": "5",
            # Escalation every 10 s rather than every minute: the tests see a job move to the
            # other node's worker within seconds of the first one's death.
            "OPEN311_ESCALATION_INTERVAL_S": "10",
        }

    def app_ports(self) -> list[int]:
        return [self._port(6, i) for i in range(self.nodes)]

    def app_nodes(self) -> list[Daemon]:
        """gunicorn of each app node, alone on its port (nginx is in front of all of them)."""
        env = os.environ | self.app_env()
        nodes = []
        for i, port in enumerate(self.app_ports()):
            directory = self.root / f"app{i}"
            metrics = directory / "metrics"
            nodes.append(
                Daemon(
                    f"app{i}",
                    gunicorn.command(f"127.0.0.1:{port}", NODE_WORKERS, 75),
                    directory,
                    env=env | {"PROMETHEUS_MULTIPROC_DIR": str(metrics), "OPEN311_NODE": f"app{i}"},
                    ready=tcp_port_accepts("127.0.0.1", port),
                )
            )
        return nodes

    def workers(self) -> list[Daemon]:
        """`open311 worker` beside each app node: deliveries and the scheduled jobs."""
        program = Path(sys.executable).with_name("open311")
        env = os.environ | self.app_env()
        return [
            Daemon(
                f"worker{i}",
                [str(program), "worker"],
                self.root / f"worker{i}",
                env=env | {"OPEN311_NODE": f"worker{i}"},
            )
            for i in range(self.nodes)
        ]

    def nginx(self) -> Daemon:
        directory = self.root / "nginx"
        return Daemon(
            "nginx",
            nginx.command(directory / "nginx.conf"),
            directory,
            ready=tcp_port_accepts("127.0.0.1", self.http_port),
        )

    def nginx_site(self) -> nginx.Site:
        return nginx.Site(
            listen=(nginx.listen_address("127.0.0.1", self.http_port),),
            # A node that refuses or drops a connection is left alone for 5 s; nginx passes the
            # request on to the other node (a POST only if it never reached the first).
            upstream=tuple(
                f"127.0.0.1:{port} max_fails=1 fail_timeout=5s" for port in self.app_ports()
            ),
            client_timeout_s=10,
            upstream_timeout_s=75,
            max_body_bytes=1024 * 1024 * 60,
            access_log=str(self.root / "nginx" / "access.log"),
        )

    def every_daemon(self) -> list[Daemon]:
        """In the order `up` starts them; `down` stops them the other way round."""
        return [
            self.etcd(),
            *(node.daemon() for node in self.database_nodes()),
            self.s3(),
            *self.app_nodes(),
            *self.workers(),
            self.nginx(),
        ]

    # The state.
    def primary(self) -> PatroniNode | None:
        return next((n for n in self.database_nodes() if n.role() == "primary"), None)

    def replicas(self) -> list[PatroniNode]:
        return [n for n in self.database_nodes() if n.role() == "replica"]

    def superuser_connection(self, node: PatroniNode) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host="127.0.0.1",
            port=node.pg_port,
            user="postgres",
            password=self.passwords().superuser,
            dbname="postgres",
            connect_timeout=3,
        )

    def status(self) -> Iterator[tuple[str, str]]:
        """(part, state) of each part, for `open311 cluster status`."""
        yield "etcd", _running(self.etcd())
        for node in self.database_nodes():
            yield f"postgresql {node.name} :{node.pg_port}", node.role() or "down"
        for pooler in self.poolers():
            yield f"pgbouncer :{pooler.port}", "running" if pooler.running() else "down"
        yield f"redis :{self.redis().port}", "running" if self.redis().running() else "down"
        for daemon in [self.s3(), *self.app_nodes(), *self.workers(), self.nginx()]:
            yield daemon.name, _running(daemon)


def _running(daemon: Daemon) -> str:
    pid = daemon.pid()
    return f"running (pid {pid})" if pid else "down"


def up(topology: Topology, *, seed: bool = True, echo=print) -> None:
    """Start every part not yet running, in order, each waited for; idempotent."""
    if not topology.patroni_program.is_file():
        raise ClusterUpError(
            f"{topology.patroni_program} not found: `make cluster` installs Patroni there"
        )
    topology.root.mkdir(parents=True, exist_ok=True)
    topology.etcd().start()
    echo(f"etcd running on 127.0.0.1:{topology._port(1)}")
    passwords = topology.passwords()
    nodes = topology.database_nodes()
    bindir = find_bindir()
    for node in nodes:
        if not node.daemon().running():
            node.write_config(bindir, topology._port(1), passwords)
    # The first node bootstraps the cluster (initdb); the second then copies it as a replica.
    for node in nodes:
        if not node.daemon().running():
            # A node killed a moment ago may still hold its ports for a little while.
            _wait_for(
                lambda n=node: port_is_free(n.rest_port) and port_is_free(n.pg_port),
                30,
                f"free ports for {node.name}",
            )
        node.daemon().start(timeout_s=180)
    _wait_for(lambda: topology.primary() is not None and topology.replicas(), 120, "a replica")
    primary = topology.primary()
    assert primary is not None
    echo(f"PostgreSQL: primary {primary.name}, replica {topology.replicas()[0].name} (Patroni)")
    _prepare_database(topology, primary)
    for pooler in topology.poolers():
        pooler.up()
    echo("pgbouncer in front of each node: " + ", ".join(str(p.port) for p in topology.poolers()))
    topology.redis().up()
    topology.s3().start()
    _make_bucket(topology)
    env = os.environ | topology.app_env()
    _run_command(["db", "upgrade"], env)
    if seed:
        echo("loading the demo cities (a few minutes the first time) ...")
        _run_command(["seed"], env)
    for daemon in topology.app_nodes():
        if not daemon.running():
            # gunicorn's workers write their metrics here and /metrics sums them; a dead
            # run's files would be summed in.
            metrics = Path(daemon.env["PROMETHEUS_MULTIPROC_DIR"])
            shutil.rmtree(metrics, ignore_errors=True)
            metrics.mkdir(parents=True)
        daemon.start(timeout_s=60)
    for daemon in topology.workers():
        daemon.start(timeout_s=60)
    site_dir = topology.root / "nginx"
    site_dir.mkdir(parents=True, exist_ok=True)
    config = site_dir / "nginx.conf"
    config.write_text(nginx.render_main(topology.nginx_site(), site_dir))
    problem = nginx.check(config)
    if problem:
        raise ClusterUpError(problem)
    topology.nginx().start()
    echo(f"serving {topology.url} (nginx -> app nodes on {topology.app_ports()})")


def down(topology: Topology, echo=print) -> None:
    """Stop every part, the last started first; the data stays under var/cluster/."""
    daemons = topology.every_daemon()
    for daemon in reversed(daemons[-(2 * topology.nodes + 2) :]):  # nginx, workers, app, s3
        daemon.stop()
    topology.redis().stop()
    for pooler in topology.poolers():
        pooler.stop()
    # The replicas first: a primary stopping first would make them try to take over.
    nodes = sorted(topology.database_nodes(), key=lambda n: n.role() == "primary")
    for node in nodes:
        node.daemon().stop(timeout_s=60)
        _stop_postmaster(node)
    topology.etcd().stop()
    echo(f"cluster stopped (its data stays in {topology.root})")


def _stop_postmaster(node: PatroniNode) -> None:
    """A PostgreSQL its Patroni left running (Patroni killed outright leaves it behind)."""
    pid = node.postmaster_pid()
    if pid is None:
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    _wait_for(lambda: not Path(f"/proc/{pid}").exists(), 60, f"PostgreSQL {pid} to stop")


def _prepare_database(topology: Topology, primary: PatroniNode) -> None:
    """The app's role with its password, and its database with PostGIS, on the primary (the
    replica receives both by replication)."""
    with closing(topology.superuser_connection(primary)) as superuser:
        superuser.autocommit = True
        with superuser.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (LOCAL_CLUSTER_APP_ROLE,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            # Its SCRAM verifier, made here: the password itself never reaches the server.
            verifier = encrypt_password(
                topology.app_password(), LOCAL_CLUSTER_APP_ROLE, superuser, "scram-sha-256"
            )
            cur.execute(
                f"{verb} ROLE {LOCAL_CLUSTER_APP_ROLE} {APP_ROLE_ATTRIBUTES} PASSWORD %s",
                (verifier,),
            )
        prepare_database(superuser, DATABASE, LOCAL_CLUSTER_APP_ROLE)


def _make_bucket(topology: Topology) -> None:
    import boto3

    env = topology.app_env()
    client = boto3.client(
        "s3",
        endpoint_url=topology.s3_url,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    names = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if MEDIA_BUCKET not in names:
        client.create_bucket(Bucket=MEDIA_BUCKET)


def _run_command(args: list[str], env: Mapping[str, str]) -> None:
    program = Path(sys.executable).with_name("open311")
    result = subprocess.run([str(program), *args], env=dict(env), check=False)
    if result.returncode:
        raise ClusterUpError(f"open311 {' '.join(args)} failed with status {result.returncode}")


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise ClusterUpError(f"no {what} within {timeout_s:.0f} s")
        time.sleep(0.2)


def remove(topology: Topology) -> None:
    """Everything under var/cluster/ but Patroni's virtualenv (for `make cluster-clean`)."""
    for path in topology.root.iterdir():
        if path.name != "patroni-venv":
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()


__all__ = ["ClusterUpError", "ProcessError", "Topology", "down", "remove", "up"]
