"""Running on Ray: joining a cluster, and the leaderboard's jobs as Ray tasks.

``import hash_envs`` does not import this module (nor Ray); it needs the ``[ray]`` extra.
Everything a task needs travels with it (the corpus and the draws once, through Ray's
object store), and each task runs the same pure function as the local leaderboard, so
the distributed numbers are bit-identical to the local ones for the same seeds.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import ray

__all__ = ["ClusterUnreachableError", "RayTrackExecutor", "connect"]

_HINT = (
    "start a cluster with `ray start --head` on the head node (and `ray start "
    "--address=HEAD_IP:6379` on the others), pass the head's HOST:PORT, or leave the "
    "address out to start a local Ray instance"
)


class ClusterUnreachableError(ValueError):
    """No Ray cluster answers at the given address (a bad input, so a ``ValueError``)."""


def _host_port(address: str) -> tuple[str, int]:
    """``"host:port"`` or ``"ray://host:port"`` -> ``(host, port)``."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterUnreachableError(
            f"Ray address {address!r} is not HOST:PORT (e.g. 10.0.0.1:6379) or "
            f"ray://HOST:PORT; {_HINT}"
        )
    return host, int(port)


def connect(
    address: str | None = None, *, num_cpus: int | None = None, timeout_s: float = 5.0
) -> None:
    """Join the Ray cluster at ``address``, or start a local instance when it is ``None``.

    An explicit address is probed with a plain TCP connect first, because ``ray.init``
    keeps retrying an unreachable one for a long time before failing; ``"auto"`` (a
    cluster started on this machine by ``ray start``) is left to Ray. When Ray is already
    initialised in this process (a test's or a notebook's instance), it is reused.
    """
    if address is not None and address != "auto":
        host, port = _host_port(address)
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
        except OSError as err:
            raise ClusterUnreachableError(
                f"cannot reach a Ray cluster at {address!r} ({err}); {_HINT}"
            ) from None
    if ray.is_initialized():
        return
    try:
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    except ConnectionError as err:
        raise ClusterUnreachableError(
            f"Ray could not connect to {address!r}: {err}; {_HINT}"
        ) from err


class RayTrackExecutor:
    """Runs each ``(contender, track)`` leaderboard job as one Ray task.

    Pass it as ``run_leaderboard(..., executor=RayTrackExecutor())``. Contenders are
    built inside the tasks, so every node needs the package (and the sibling packages
    whose entry points name the contenders) installed, and artifact files must be at the
    same path on every node (shared storage); a relative artifact path is made absolute
    here. The ``speed`` track's timings are taken wherever a task lands, next to other
    tasks: use the local path for speed numbers you publish.
    """

    def __init__(self, address: str | None = None, *, num_cpus_per_job: float = 1.0) -> None:
        self.address = address
        self.num_cpus_per_job = num_cpus_per_job

    def map_jobs(
        self,
        fn: Callable[[tuple[str, str], Any], Any],
        jobs: Sequence[tuple[str, str]],
        ctx: Any,
    ) -> Iterator[Any]:
        """Submit every job at once, then yield the outcomes in job order."""
        connect(self.address)
        ctx_ref = ray.put(ctx)  # the corpus and draws are stored once, not once per task
        task = ray.remote(num_cpus=self.num_cpus_per_job)(fn)
        refs = [task.remote(_portable(job), ctx_ref) for job in jobs]
        for ref in refs:
            yield ray.get(ref)


def _portable(job: tuple[str, str]) -> tuple[str, str]:
    """Make an artifact path absolute, so a worker with another working directory finds it."""
    name, track = job
    path = Path(name)
    return (str(path.resolve()), track) if path.is_file() else job
