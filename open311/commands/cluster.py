"""`open311 cluster`: the several-machine arrangement on this machine's loopback (var/cluster/)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from open311.cluster.processes import ProcessError
from open311.cluster.topology import CLUSTER_ROOT, ClusterUpError, Topology, down, up
from open311.db.cluster import ClusterError
from open311.db.pgbouncer import PgbouncerError
from open311.db.redis_server import RedisServerError

FAILURES = (ClusterUpError, ProcessError, ClusterError, PgbouncerError, RedisServerError)


@click.group("cluster")
@click.option(
    "--base-port",
    type=int,
    default=Topology.base_port,
    show_default=True,
    help="nginx listens here; every other part on a port above it.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=CLUSTER_ROOT,
    show_default=True,
    help="Where its programs keep their data, pid files and logs (another root and base port "
    "run a second cluster beside the first).",
)
@click.pass_context
def cluster_group(context: click.Context, base_port: int, root: Path) -> None:
    """Two PostgreSQL nodes under Patroni with etcd, a pgbouncer each, Redis, an S3 store, two
    app nodes with a worker each, and nginx in front: README "Running on several machines"."""
    context.obj = Topology(root=root.resolve(), base_port=base_port)


@cluster_group.command("up")
@click.option("--no-seed", is_flag=True, help="Do not load the demo cities.")
@click.pass_obj
def cluster_up(topology: Topology, no_seed: bool) -> None:
    """Start every part that is not running (the first time: make the database nodes)."""
    try:
        up(topology, seed=not no_seed, echo=click.echo)
    except FAILURES as exc:
        raise click.ClickException(str(exc)) from None


@cluster_group.command("down")
@click.pass_obj
def cluster_down(topology: Topology) -> None:
    """Stop every part; the data stays under its root (var/cluster/)."""
    try:
        down(topology, echo=click.echo)
    except FAILURES as exc:
        raise click.ClickException(str(exc)) from None


@cluster_group.command("status")
@click.pass_obj
def cluster_status(topology: Topology) -> None:
    """Each part and whether it runs; the database nodes' roles."""
    for part, state in topology.status():
        click.echo(f"{part:40} {state}")


@cluster_group.command("env")
@click.pass_obj
def cluster_env(topology: Topology) -> None:
    """The app nodes' settings as shell assignments (they hold passwords: keep them private),
    for running a command against the cluster: `eval "$(open311 cluster env)"`."""
    for name, value in topology.app_env().items():
        click.echo(f"export {name}={shlex.quote(value)}")
