"""Environment checks before Ray starts: the --address probe (against local servers that are not
Ray, on 127.0.0.1 only), storage writability, the dashboard host, and the 0600 auth token."""
from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc
import pytest

from hpo import preflight
from hpo.errors import ConfigError

from conftest import PY, ROOT


# ---------------------------------------------------------------- local servers that are not Ray
class _Server:
    """A TCP server on 127.0.0.1 running ``handler(conn)`` for every connection (or never accepting)."""

    def __init__(self, handler=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.handler, self.conns = handler, []
        if handler is not None:
            threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.handler, args=(conn,), daemon=True).start()

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def _http1(conn):
    try:
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(1024):  # drain, so closing sends FIN, not a reset that could drop the reply
            pass
    except OSError:
        pass
    conn.close()


def _hangup(conn):
    conn.close()


def _h2_settings_then_silence(conn):
    try:
        conn.recv(1024)
        conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        while conn.recv(1024):
            pass
    except OSError:
        pass


@pytest.fixture
def server(request):
    srv = _Server(request.param)
    yield srv
    srv.close()


def _refuses(address, words, timeout=1.0):
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as err:
        preflight.check_address(address, timeout=timeout)
    assert time.monotonic() - t0 < timeout + 2.0
    line = err.value.one_line()
    assert line.startswith("<cli>: address: no Ray cluster answers at ") and words in line, line
    return line


def test_closed_port_is_refused_at_once():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _refuses(f"127.0.0.1:{port}", "refused")


@pytest.mark.parametrize("server", [None], indirect=True)
def test_silent_service_is_refused_within_the_timeout(server):
    _refuses(f"127.0.0.1:{server.port}", "no answer within 1 s")


@pytest.mark.parametrize("server,words", [(_http1, "it sent b'HTTP/1.1 '"), (_hangup, "closed the connection")],
                         indirect=["server"], ids=["http1", "hangup"])
def test_service_that_is_not_http2_is_refused(server, words):
    _refuses(f"127.0.0.1:{server.port}", words)


@pytest.mark.parametrize("server", [_h2_settings_then_silence], indirect=True)
def test_http2_alone_is_not_enough(server):
    _refuses(f"127.0.0.1:{server.port}", "no gRPC answer within")


def _grpc_server(behaviour):
    class Handler(grpc.GenericRpcHandler):
        def service(self, details):
            if details.method == preflight._GCS_METHOD and behaviour is not None:
                return grpc.unary_unary_rpc_method_handler(behaviour)
            return None  # UNIMPLEMENTED

    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    srv.add_generic_rpc_handlers((Handler(),))
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    return srv, port


def test_other_grpc_service_is_refused():
    srv, port = _grpc_server(None)
    try:
        _refuses(f"127.0.0.1:{port}", "a gRPC service, but not Ray's GCS (UNIMPLEMENTED")
    finally:
        srv.stop(None)


def _unauthenticated(request, context):
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "Invalid or missing authentication token")


@pytest.mark.parametrize("behaviour", [lambda request, context: b"", _unauthenticated], ids=["ok", "token-auth"])
def test_service_answering_the_gcs_call_is_accepted(behaviour):
    srv, port = _grpc_server(behaviour)
    try:
        preflight.check_address(f"127.0.0.1:{port}", timeout=2.0)
        preflight.check_address(f"localhost:{port}", timeout=2.0)
    finally:
        srv.stop(None)


@pytest.mark.parametrize("address", [None, "", "auto", "ray://127.0.0.1:1"])
def test_auto_and_ray_client_addresses_are_not_probed(monkeypatch, address):
    monkeypatch.setattr(preflight, "probe_ray_gcs", lambda *a, **k: pytest.fail("probed"))
    preflight.check_address(address)


@pytest.mark.parametrize("address,expected", [("127.0.0.1:6379", ("127.0.0.1", 6379)), ("[::1]:10", ("::1", 10)),
                                              ("head-0.cluster:6379", ("head-0.cluster", 6379))])
def test_address_parsing(address, expected):
    assert preflight.split_host_port(address) == expected


@pytest.mark.parametrize("address", ["head", "head:", ":6379", "head:0", "head:65536", "999.999.1.1:6379",
                                     "::1:6379", "a b:1", "head:6379:1"])
def test_unparsable_address(address):
    with pytest.raises(ConfigError, match="cannot parse address"):
        preflight.check_address(address)


@pytest.mark.parametrize("server", [None], indirect=True)
def test_cli_with_silent_address_exits_2_within_seconds(server, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("lr,loss_0,loss_1\n0.1,2,1\n0.2,3,2\n")
    space = tmp_path / "s.yaml"
    space.write_text(f"trainable: {{name: replay, args: {{table: {table}}}}}\nmetric: loss\n"
                     f"hyperparameters: {{row: {{type: int, low: 0, high: 1}}}}\nbudget: {{max_epochs: 2}}\n"
                     f"storage: {tmp_path / 'results'}\n")
    t0 = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([PY, "-m", "hpo.run", "--space", str(space), "--address", f"127.0.0.1:{server.port}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no answer within 3 s" in lines[0], proc.stderr
    assert time.monotonic() - t0 < 30
    assert not (tmp_path / "results").exists()


@pytest.mark.ray
def test_a_real_ray_gcs_is_accepted_and_its_raylet_port_refused(ray_cluster):
    import ray

    gcs = ray_cluster.address_info["gcs_address"]
    preflight.check_address(gcs)
    host = gcs.rsplit(":", 1)[0]
    raylet_port = ray._private.worker._global_node.node_manager_port
    assert "not Ray's GCS" in preflight.probe_ray_gcs(host, raylet_port)


# ---------------------------------------------------------------- storage
def test_storage_probe_creates_nothing(tmp_path):
    assert preflight.check_storage(tmp_path / "a" / "b") == tmp_path
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "s").mkdir()
    assert preflight.check_storage(tmp_path / "s") == tmp_path / "s"
    assert list((tmp_path / "s").iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_storage_under_proc_is_refused():
    with pytest.raises(ConfigError, match=r"storage: cannot write under /proc: "):
        preflight.check_storage("/proc/hpo_results", source="s.yaml")


def test_storage_under_a_file_or_broken_link_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        preflight.check_storage(tmp_path / "f" / "results")
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    with pytest.raises(ConfigError, match="broken symbolic link"):
        preflight.check_storage(tmp_path / "link" / "results")


def test_read_only_filesystem_is_refused(tmp_path, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *a):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(ConfigError, match="cannot write under .*: Read-only file system"):
        preflight.check_storage(tmp_path / "results")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_folder_without_write_permission_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    with pytest.raises(ConfigError, match="Permission denied"):
        preflight.check_storage(ro / "results")


# ---------------------------------------------------------------- dashboard host
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::1", "::", "localhost", "node-1.cluster.local", "host."])
def test_valid_hosts(host):
    preflight.check_host(host)


@pytest.mark.parametrize("host", ["999.999.1.1", "256.0.0.1", "1.2.3", "my host", "-node", "node-", "a..b", "",
                                  "x" * 64, "host:8265", "http://host"])
def test_invalid_hosts(host):
    with pytest.raises(ConfigError, match=r"^<cli>: dashboard_host: .* is neither an IP address nor a valid host"):
        preflight.check_host(host)


# ---------------------------------------------------------------- Ray's auth token
@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_token_is_created_0600_in_a_0700_folder(home):
    path = preflight.private_token_file()
    assert path == home / ".ray" / "auth_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = path.read_text()
    assert len(token) == 64 and int(token, 16) >= 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["auth_token"]  # no temporary file left


def test_existing_token_is_kept_and_a_readable_one_warned_about(home, caplog):
    (home / ".ray").mkdir()
    token = home / ".ray" / "auth_token"
    token.write_text("mine")
    token.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="hpo"):
        assert preflight.private_token_file() == token
    assert token.read_text() == "mine" and stat.S_IMODE(token.stat().st_mode) == 0o644
    assert "readable by other users; run: chmod 600" in caplog.text


@pytest.mark.parametrize("var,value", [("RAY_AUTH_MODE", "disabled"), ("RAY_AUTH_TOKEN", "t"),
                                       ("RAY_AUTH_TOKEN_PATH", "/elsewhere")])
def test_token_left_to_the_user_when_chosen_otherwise(home, monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    assert preflight.private_token_file() is None
    assert not (home / ".ray").exists()


def test_unwritable_home_is_a_warning_not_a_crash(monkeypatch, caplog):
    monkeypatch.setenv("HOME", "/proc/no_home")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with caplog.at_level(logging.WARNING, logger="hpo"):
        assert preflight.private_token_file() is None
    assert "Ray will create the token itself" in caplog.text


_RAY_TOKEN_SCRIPT = """
import os, stat, sys, grpc
from hpo import preflight
from hpo.ray import cluster
info = cluster.connect(None, num_cpus=1, slots=1, object_store_memory=200 * 2**20)
import ray
token = os.path.expanduser("~/.ray/auth_token")
gcs = ray._private.worker._global_node.gcs_address
ch = grpc.insecure_channel(gcs)
call = ch.unary_unary(preflight._GCS_METHOD)
call(b"", timeout=5, metadata=[("authorization", "Bearer " + open(token).read())])  # our token works
try:
    call(b"", timeout=5)
    sys.exit("no token needed?")
except grpc.RpcError as exc:
    assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc
preflight.check_address(gcs)
print("MODE", oct(stat.S_IMODE(os.stat(token).st_mode)), os.environ.get("RAY_AUTH_MODE"))
cluster.disconnect(info)
"""


@pytest.mark.slow
@pytest.mark.ray
def test_local_ray_uses_our_0600_token(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-c", _RAY_TOKEN_SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MODE 0o600 token" in proc.stdout, proc.stdout
