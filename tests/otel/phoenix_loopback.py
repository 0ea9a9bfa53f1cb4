"""Start Arize Phoenix with every socket on loopback (run by ``.phoenix-venv/bin/python``).

Phoenix binds its HTTP server to ``PHOENIX_HOST`` but its OTLP gRPC server to ``[::]``
(every interface) with no setting to change it. Tests and ``make phoenix-serve`` must
listen on 127.0.0.1 only, so this wraps ``grpc.aio.server`` to rewrite that address
before Phoenix's own entry point runs. Usage: ``python phoenix_loopback.py serve``.
"""

import os
import sys

# this file's folder holds tests/otel/phoenix.py, which would shadow the phoenix package
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import grpc.aio  # noqa: E402

_server = grpc.aio.server


def _loopback_server(*args, **kwargs):  # type: ignore[no-untyped-def]
    server = _server(*args, **kwargs)
    for name in ("add_insecure_port", "add_secure_port"):
        bind = getattr(server, name)

        def on_loopback(address, *rest, _bind=bind):  # type: ignore[no-untyped-def]
            return _bind(address.replace("[::]", "127.0.0.1"), *rest)

        setattr(server, name, on_loopback)
    return server


grpc.aio.server = _loopback_server

if __name__ == "__main__":
    from phoenix.server.main import main

    sys.argv[0] = "phoenix"
    sys.exit(main())
