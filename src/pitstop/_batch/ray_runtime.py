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

__all__ = ["LOCAL_OBJECT_STORE_BYTES", "connect", "host_port", "import_ray",
           "keep_on_loopback", "start_local"]

LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
"""The object store of a local Ray: results are small, and the machine may be too."""

_PROBE_SECONDS = 3.0
"""How long an address may take to accept a connection and answer as a gRPC server."""

_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
"""The HTTP/2 connection preface and an empty SETTINGS frame."""


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


def host_port(address: str) -> tuple[str, int] | None:
    """The host and port of a Ray address (None for ``"auto"``), or a `ConfigError`."""
    if address == "auto":
        return None
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = None
    if parts.hostname is None or port is None:
        raise ConfigError(
            f"RayEngine address {address!r} is not host:port, ray://host:port or 'auto'."
        )
    return parts.hostname, port


def _speaks_grpc(sock: socket.socket) -> bool:
    """Whether the server on `sock` answers the HTTP/2 preface with a SETTINGS frame, as
    every gRPC server (Ray's GCS, the Ray Client server) does at once."""
    sock.sendall(_HTTP2_PREFACE)
    head = b""
    while len(head) < 9:  # a frame header: length (3 bytes), type, flags, stream id
        part = sock.recv(9 - len(head))
        if not part:
            return False
        head += part
    return head[3] == 0x04


def _probe(address: str, target: tuple[str, int]) -> None:
    """A `ConfigError` at once when nothing, or something other than Ray, listens at the
    address: `ray.init` would block this thread for minutes retrying it."""
    try:
        sock = socket.create_connection(target, timeout=_PROBE_SECONDS)
    except OSError as exc:
        raise ConfigError(
            f"Ray is not reachable at {address!r} ({exc.strerror or exc}); start it there "
            "(`ray start --head`) or use RayEngine(address=None) for a local Ray."
        ) from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return  # a TLS server does not answer a plain preface: let Ray try
        try:
            grpc = _speaks_grpc(sock)
        except OSError:  # silent (timed out) or closed on us
            grpc = False
    if not grpc:
        raise ConfigError(
            f"Something listens at {address!r} but it is not Ray (no gRPC answer within "
            f"{_PROBE_SECONDS:.0f} s). Give the head node's GCS address ('host:6379' by "
            "default, printed by `ray start --head`) or its Ray Client address "
            "('ray://host:10001')."
        )


def connect(address: str | None, *, num_cpus: int) -> Any:
    """This process's connection to Ray: the running one, a local one, or `address`."""
    ray = import_ray()
    if address is None:
        if not ray.is_initialized():
            start_local(num_cpus)
        return ray
    target = host_port(address)
    if target is not None:
        _probe(address, target)
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
