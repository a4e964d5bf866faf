"""Checks of the environment an experiment will use, made before Ray starts (and by ``--check``).

* ``check_address``: ``--address HOST:PORT`` must answer as a Ray head node's GCS within a few
  seconds.  The GCS is a gRPC server, so it speaks HTTP/2: we send the HTTP/2 client connection
  preface (RFC 9113, section 3.4) and expect the server's SETTINGS frame back; then one gRPC call
  that only a Ray GCS implements (``NodeInfoGcsService/GetClusterId``, the first call Ray's own
  client makes) must answer OK, or UNAUTHENTICATED when the cluster uses token auth.  A port that
  refuses, stays silent or answers anything else (an HTTP/1 server, SSH, another gRPC service) is
  refused with one line, instead of ``ray.init`` waiting on it for minutes.  ``auto`` and ``ray://``
  addresses keep their own handling (``hpo.ray.cluster``).  With ``RAY_USE_TLS=1`` the GCS expects a
  TLS handshake first, so only the TCP connection is checked.
* ``check_storage``: the results root (or its nearest existing parent) accepts a new file: one is
  created, written and removed.  Nothing else is created, so ``--check`` leaves no directory.
* ``check_host``: the dashboard host is an IP address or a syntactically valid host name.
* ``private_token_file``: the Ray auth token a local run creates is written 0600 (see the function).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger("hpo")
PROBE_TIMEOUT_S = 3.0
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, no flags, stream 0
_H2_SETTINGS = 0x04
_GCS_METHOD = "/ray.rpc.NodeInfoGcsService/GetClusterId"
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


# ---------------------------------------------------------------- host names
def valid_host(host: str) -> bool:
    """An IPv4/IPv6 address, or a host name made of RFC 1123 labels whose last label is not all
    digits (so ``999.999.1.1`` is an invalid IPv4 address, not a host name)."""
    if not isinstance(host, str) or not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    return (len(name) <= 253 and all(_LABEL.fullmatch(lb) for lb in labels)
            and not labels[-1].isdigit())


def check_host(host: str, key: str = "dashboard_host", source: str = "<cli>") -> None:
    if not valid_host(host):
        raise ConfigError(f"{host!r} is neither an IP address nor a valid host name", key, source)


# ---------------------------------------------------------------- --address
def split_host_port(address: str, key: str = "address", source: str = "<cli>") -> tuple[str, int]:
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})", address)
    host, port = (m.group(1) or m.group(3), int(m.group(2) or m.group(4))) if m else ("", 0)
    if not m or not 0 < port < 65536 or not valid_host(host):
        raise ConfigError(f"cannot parse address {address!r}; use auto, HOST:PORT or ray://HOST:PORT", key, source)
    return host, port


def _resolve(host: str, port: int, timeout: float) -> list[tuple]:
    """``getaddrinfo`` bounded by ``timeout`` (a stuck resolver must not hang the check)."""
    box: dict[str, Any] = {}

    def work():
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    t = threading.Thread(target=work, daemon=True, name="hpo-resolve")
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"resolving {host} took longer than {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["infos"]


def _read_frame_header(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while len(data) < 9:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(9 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def probe_ray_gcs(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """``None`` when ``host:port`` answers like Ray's GCS (HTTP/2, then the GetClusterId call), else why not."""
    deadline = time.monotonic() + timeout
    try:
        infos = _resolve(host, port, timeout)
    except (OSError, TimeoutError) as exc:
        return f"cannot resolve {host} ({getattr(exc, 'strerror', None) or exc})"
    family, kind, proto, _, addr = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            sock.connect(addr)
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                log.info("RAY_USE_TLS is set: only the TCP connection to %s:%d was checked", host, port)
                return None
            try:
                sock.sendall(_H2_PREFACE + _H2_EMPTY_SETTINGS)
                head = _read_frame_header(sock, deadline)
            except (ConnectionResetError, BrokenPipeError):  # it hung up on the preface
                head = b""
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    if not (len(head) == 9 and head[3] == _H2_SETTINGS and head[5:9] == b"\x00\x00\x00\x00"):
        seen = f"it sent {head[:9]!r}" if head else "it closed the connection"
        return f"the service there does not speak gRPC/HTTP/2 as Ray's GCS does ({seen})"
    return _grpc_gcs_call(host, port, max(0.05, deadline - time.monotonic()))


def _grpc_gcs_call(host: str, port: int, timeout: float) -> str | None:
    import grpc  # a dependency of ray[default]

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])  # as Ray's channels
    try:
        call = channel.unary_unary(_GCS_METHOD, request_serializer=None, response_deserializer=None)
        call(b"", timeout=timeout)  # an empty GetClusterIdRequest
        return None
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return None  # a Ray GCS with token auth; ray.init sends the token
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"no gRPC answer within {timeout:.1f} s"
        what = "a gRPC service, but not Ray's GCS" if code == grpc.StatusCode.UNIMPLEMENTED else "no Ray GCS"
        return f"{what} ({getattr(code, 'name', code)}: {exc.details() if hasattr(exc, 'details') else exc})"
    finally:
        channel.close()


def check_address(address: str | None, key: str = "address", source: str = "<cli>",
                  timeout: float = PROBE_TIMEOUT_S) -> None:
    """Refuse (``ConfigError``) a ``HOST:PORT`` where no Ray GCS answers within ``timeout`` seconds."""
    if not address or address == "auto" or "://" in address:
        return  # auto: Ray finds the local head; ray://: the Ray Client path (hpo.ray.cluster.check_address)
    host, port = split_host_port(address, key, source)
    problem = probe_ray_gcs(host, port, timeout)
    if problem:
        raise ConfigError(f"no Ray cluster answers at {address}: {problem} (give the head node's GCS "
                          "address, by default port 6379)", key, source)


# ---------------------------------------------------------------- storage
def check_storage(storage: str | os.PathLike, key: str = "storage", source: str | None = None) -> Path:
    """Create, write and remove a file in ``storage`` or its nearest existing parent; return that folder."""
    p = Path(storage).expanduser().absolute()
    probe = p
    while not probe.exists():
        if probe.is_symlink():
            raise ConfigError(f"{probe} is a broken symbolic link", key, source)
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{probe} is not a directory", key, source)
    name = probe / f".hpo-write-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"hpo write probe\n")
        finally:
            os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise ConfigError(f"cannot write under {probe}: {exc.strerror or exc}", key, source) from None
    return probe


def check_environment(cfg: Any, flags_source: str = "<cli>") -> None:
    """Every check above for a validated ``ExperimentConfig``, before Ray starts."""
    check_host(cfg.dashboard_host, "dashboard_host", flags_source)
    check_storage(cfg.storage, "storage", cfg.source)
    check_address(cfg.address, "address", flags_source)


# ---------------------------------------------------------------- Ray's auth token
def private_token_file() -> Path | None:
    """Write the token a local ``ray.init`` would create, but readable by its owner only.

    Ray 2.60 creates ``~/.ray/auth_token`` with a plain ``open(path, "w")`` (mode 0666 less the
    umask, so usually 0644) when it starts a local cluster in token mode and no token exists.  Ray
    uses an existing file as it is, so we create it first, atomically and 0600, with the same kind
    of token (256 random bits, hex).  Nothing happens when the user chose the token another way
    (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``) or disabled token auth (``RAY_AUTH_MODE``).  An
    existing token file is left alone, with a warning if others can read it.  Returns the path
    when the default file is in use.
    """
    mode = os.environ.get("RAY_AUTH_MODE")
    if (mode is not None and mode.lower() != "token") or os.environ.get("RAY_AUTH_TOKEN") \
            or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return None
    path = Path.home() / ".ray" / "auth_token"
    try:
        return _write_private_token(path)
    except OSError as exc:  # e.g. a read-only home: Ray's own attempt will report it
        log.warning("could not prepare %s (%s); Ray will create the token itself", path, exc.strerror or exc)
        return None


def _write_private_token(path: Path) -> Path:
    if path.exists():
        if path.stat().st_mode & 0o077:
            log.warning("%s is readable by other users; run: chmod 600 %s", path, path)
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".auth_token.", dir=path.parent)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a token another process just wrote
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: exclusive create, still 0600
            _create_exclusive(path, Path(tmp).read_bytes())
    finally:
        os.unlink(tmp)
    return path


def _create_exclusive(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
