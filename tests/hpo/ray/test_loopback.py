"""A local run keeps Ray's ports on loopback (issue 15: Prometheus endpoints and Ray's ports answered
on every interface).  A local Ray is started through ``hpo.ray.cluster.connect`` in a subprocess of
its own session; every listening TCP socket of that session's processes (``/proc/net/tcp*`` and each
process's file descriptors) must be on 127.0.0.1 (or ::1, or ::ffff:127.0.0.1)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import PY, ROOT

pytestmark = [pytest.mark.ray, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

PROBE = textwrap.dedent("""
    import json, os, socket, struct, time
    from hpo.ray import cluster

    def listening():
        socks = {}
        for path, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
            for line in open(path).readlines()[1:]:
                f = line.split()
                if f[3] != "0A":  # LISTEN
                    continue
                ip_hex, port = f[1].split(":")
                raw = b"".join(struct.pack("<I", int(ip_hex[i:i + 8], 16)) for i in range(0, len(ip_hex), 8))
                socks[f[9]] = (socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw), int(port, 16))
        out = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.getsid(int(pid)) != os.getsid(0):
                    continue
                name = open(f"/proc/{pid}/comm").read().strip()
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:[") and target[8:-1] in socks:
                        out.add((*socks[target[8:-1]], name))
            except OSError:
                continue
        return out

    info = cluster.connect(None, num_cpus=1, slots=1)
    seen, stable, t0 = set(), 0, time.monotonic()
    while time.monotonic() - t0 < 30 and stable < 3:  # the agents open their ports a few seconds late
        time.sleep(1)
        now = listening()
        stable = stable + 1 if now == seen and time.monotonic() - t0 > 5 else 0
        seen = now
    print(json.dumps(sorted(seen)))
    cluster.disconnect(info)
""")
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def test_a_local_ray_started_by_hpo_listens_on_loopback_only():
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    proc = subprocess.run([PY, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=180, env=env,
                          start_new_session=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sockets = json.loads(proc.stdout.strip().splitlines()[-1])
    names = {name for _, _, name in sockets}
    assert {"gcs_server", "raylet"} <= names and any("Dashboard" in n for n in names), sockets
    assert len(sockets) >= 6, sockets  # GCS, 2 raylet ports, a worker, the dashboard, its agents, the metrics port
    exposed = [s for s in sockets if s[0] not in LOOPBACK]
    assert not exposed, exposed
