"""Connecting to Ray: a local Ray kept on 127.0.0.1, or a cluster at an address.

Ray binds its servers to the host's network address unless told otherwise, even when
the node address is 127.0.0.1. ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (read by Ray
when it is imported, and inherited by every process it starts) makes a local Ray use
the loopback address for its node and bind every server there; usage statistics are
switched off so nothing tries to leave the machine.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from pitstop.errors import ConfigError, MissingExtraError

__all__ = ["LOCAL_OBJECT_STORE_BYTES", "connect", "import_ray", "keep_on_loopback",
           "start_local"]

LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
"""The object store of a local Ray: results are small, and the machine may be too."""


def keep_on_loopback() -> None:
    """Make the Ray started by this process bind 127.0.0.1 only (before or after import)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # Ray was imported first: its constant was read already
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[attr-defined]


def import_ray() -> Any:
    """The ``ray`` module, or a `MissingExtraError` naming the extra."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError(
            "RayEngine needs Ray; install it with `pip install 'pitstop[ray]'`."
        ) from None
    return ray


def start_local(num_cpus: int) -> Any:
    """Start a Ray on this machine, every process on 127.0.0.1, small and quick to start."""
    keep_on_loopback()
    ray = import_ray()
    return ray.init(
        num_cpus=num_cpus,
        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )


def _host_port(address: str) -> tuple[str, int] | None:
    if address == "auto":
        return None
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    if parts.hostname is None or parts.port is None:
        raise ConfigError(
            f"RayEngine address {address!r} is not host:port, ray://host:port or 'auto'."
        )
    return parts.hostname, parts.port


def connect(address: str | None, *, num_cpus: int) -> Any:
    """This process's connection to Ray: the running one, a local one, or `address`."""
    ray = import_ray()
    if address is None:
        if not ray.is_initialized():
            start_local(num_cpus)
        return ray
    target = _host_port(address)
    if target is not None:
        try:
            with socket.create_connection(target, timeout=3.0):
                pass
        except OSError as exc:
            raise ConfigError(
                f"Ray is not reachable at {address!r} ({exc.strerror or exc}); start it there "
                "(`ray start --head`) or use RayEngine(address=None) for a local Ray."
            ) from None
    if ray.is_initialized():
        current = ray.get_runtime_context().gcs_address
        if target is not None and current.rsplit(":", 1)[-1] != str(target[1]):
            raise ConfigError(
                f"This process is already connected to Ray at {current!r}, not {address!r}; "
                "call ray.shutdown() first or use RayEngine(address=None)."
            )
        return ray
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, TimeoutError, RuntimeError) as exc:
        raise ConfigError(f"Ray is not reachable at {address!r}: {exc}") from None
    return ray
