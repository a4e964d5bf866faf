"""Start an embedded local Ray (every port on loopback) or join an existing cluster.

A local run keeps all of Ray's listening sockets on 127.0.0.1: GCS, raylet, workers, the dashboard,
its agents and the metrics (Prometheus) export port.  Ray 2.60 binds them to every interface on
Linux and replaces a loopback ``_node_ip_address`` by the host's address; its single-machine mode
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, its default on macOS and Windows) uses the loopback
address as the node address instead, and its servers then listen there only (:func:`loopback_only`).
A joined cluster (``--address``) is left as it is.
"""
from __future__ import annotations

import logging
import math
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from hpo import preflight
from hpo.errors import ConfigError

log = logging.getLogger("hpo")
SLOT = "hpo_slot"  # logical resource that caps concurrent trials (one unit per trial)


@dataclass
class ClusterInfo:
    started_here: bool
    dashboard_url: str | None
    num_cpus: float
    has_slots: bool
    num_gpus: float = 0.0


def detect_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def detect_gpus() -> float:
    """GPUs an embedded local Ray would register (Ray's own NVIDIA detection; honours CUDA_VISIBLE_DEVICES)."""
    try:
        from ray._private.accelerators import NvidiaGPUAcceleratorManager as nvidia

        visible = nvidia.get_current_process_visible_accelerator_ids()
        return float(len(visible) if visible is not None else nvidia.get_current_node_num_accelerators())
    except Exception:  # noqa: BLE001 - no driver, no NVML, other Ray versions: no GPUs
        return 0.0


def trial_slots(cpus: float, gpus: float, workers_per_trial: int, cpus_per_worker: float,
                gpus_per_worker: float, max_concurrent: int | None = None) -> int:
    """Trials at once: ``max_concurrent``, else CPUs / CPUs per trial; when trials use GPUs, also at most
    GPUs / GPUs per trial (1 GPU at 0.25 per trial -> 4).  At least 1."""
    n = max_concurrent or _floor(cpus / (workers_per_trial * cpus_per_worker))
    if gpus_per_worker > 0:
        n = min(n, _floor(gpus / (workers_per_trial * gpus_per_worker)))
    return max(1, n)


def _floor(x: float) -> int:
    return math.floor(round(x, 6))  # 0.3 / 0.1 is 2.999...; Ray itself counts resources to 1e-4


def check_gpus(gpus_per_worker: float, workers_per_trial: int, cluster_gpus: float) -> None:
    """ConfigError when trials ask for GPUs the cluster does not have (they would stay PENDING forever)."""
    if gpus_per_worker <= 0:
        return
    if cluster_gpus <= 0:
        raise ConfigError(f"trials need {gpus_per_worker:g} GPU per worker but the Ray cluster has no GPUs; "
                          "set resources.gpus_per_worker: 0 (or --gpus-per-worker 0) to train on CPUs",
                          "resources.gpus_per_worker")
    need = gpus_per_worker * workers_per_trial
    if need > cluster_gpus:
        raise ConfigError(f"one trial needs {need:g} GPUs ({workers_per_trial} workers x {gpus_per_worker:g}) but "
                          f"the Ray cluster has {cluster_gpus:g}", "resources.gpus_per_worker")


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast (ConfigError) when ``host:port`` / ``ray://host:port`` does not answer."""
    if address == "auto":
        return
    target = address if "://" in address else f"ray://{address}"
    parsed = urlparse(target)
    host, port = parsed.hostname, parsed.port
    if not host or not port:
        raise ConfigError(f"cannot parse address {address!r}; use auto, HOST:PORT or ray://HOST:PORT", "address")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(f"no Ray cluster answers at {address} ({exc.strerror or exc})", "address") from None


def connect(address: str | None, *, num_cpus: int | None, slots: int, dashboard_host: str = "127.0.0.1",
            object_store_memory: int | None = None) -> ClusterInfo:
    import ray

    env = {"RAY_TRAIN_ENABLE_STATE_TRACKING": "1"}
    if ray.is_initialized():  # e.g. tests sharing one instance, or a user's own ray.init()
        res = ray.cluster_resources()
        return ClusterInfo(False, _dashboard_url(ray), res.get("CPU", 0), res.get(SLOT, 0) > 0, res.get("GPU", 0))
    if address:
        if address.startswith("ray://"):  # HOST:PORT was already probed as a GCS by hpo.preflight
            check_address(address)
        _token_auth_for_join()
        try:
            ctx = ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=True)
        except (ConnectionError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot join the Ray cluster at {address}: {first} (token auth: "
                              f"RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE', 'unset')})", "address") from None
        res = ray.cluster_resources()
        url = getattr(ctx, "dashboard_url", None)
        return ClusterInfo(False, f"http://{url}" if url else None, res.get("CPU", 0), res.get(SLOT, 0) > 0,
                           res.get("GPU", 0))
    if dashboard_host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the Ray dashboard will listen on %s: the dashboard and job API run code for whoever "
                    "reaches them; keep it on 127.0.0.1 unless the network is trusted", dashboard_host)
    cpus = num_cpus or detect_cpus()
    loopback_only()
    # Ray warns on every start that token authentication is on; we print where the token is instead.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    preflight.private_token_file()  # Ray would write ~/.ray/auth_token 0644; we write it 0600 first
    pythonpath = os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH", "")] if p)
    ctx = ray.init(address="local", num_cpus=cpus, resources={SLOT: slots}, include_dashboard=True,
                   dashboard_host=dashboard_host, object_store_memory=object_store_memory,
                   runtime_env={"env_vars": {**env, "PYTHONPATH": pythonpath}},
                   configure_logging=True, logging_level=logging.WARNING)
    url = getattr(ctx, "dashboard_url", None)
    # Other Ray instances may run on this machine: point state-API clients at ours.
    os.environ["RAY_ADDRESS"] = ctx.address_info["address"]
    return ClusterInfo(True, f"http://{url}" if url else None, cpus, True, ray.cluster_resources().get("GPU", 0))


LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def loopback_only() -> bool:
    """Make an embedded Ray listen on loopback only: Ray's single-machine mode, in this process
    (read when ``ray`` was imported, so it is set on the imported constant too) and in the Ray
    processes it starts (they inherit the environment).  A user's own setting of the variable
    wins.  Returns whether loopback-only is in force."""
    os.environ.setdefault(LOOPBACK_ENV, "0")
    on = os.environ[LOOPBACK_ENV].strip().lower() in ("0", "false")
    try:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = not on
    except (ImportError, AttributeError):  # pragma: no cover - other Ray versions read the variable only
        pass
    if not on:
        log.warning("%s=%s: the local Ray listens on every interface", LOOPBACK_ENV, os.environ[LOOPBACK_ENV])
    return on


def token_file() -> str | None:
    """Where the dashboard's login token lives, when this machine has one."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    return path if os.path.exists(path) else None


def _token_auth_for_join() -> None:
    """Clusters started with ``ray start --head`` use token auth by default (Ray >= 2.59), but a
    process joining one treats an unset RAY_AUTH_MODE as 'disabled'; use the local token if any."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    try:  # Ray's own helper also refreshes its cached config (the variable alone is read too late)
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available)
    except ImportError:  # pragma: no cover - other Ray versions
        token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
        if os.environ.get("RAY_AUTH_TOKEN") or os.path.exists(token_file):
            os.environ["RAY_AUTH_MODE"] = "token"
        return
    if maybe_enable_token_auth_if_token_available(warn_if_disabled=False):
        log.info("joining the cluster with token authentication")


def _dashboard_url(ray) -> str | None:
    try:
        url = ray.get_runtime_context().dashboard_url  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - optional information
        url = None
    return f"http://{url}" if url else None


def disconnect(info: ClusterInfo) -> None:
    import ray

    if info.started_here and ray.is_initialized():
        ray.shutdown()
        os.environ.pop("RAY_ADDRESS", None)
