"""Several replicas, one Redis (issue 13): the replay memory and the throttle budget shared
through a real redis-server (Debian's, installed under target/tools by scripts/redis.sh),
three real scf-bridge processes, the real legacy SDK and the scripted 3.0 mock upstream.

Faults are real too: the redis-server process is killed, restarted on its port, or frozen
with SIGSTOP while requests are in flight."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import scfkit
from redisproc import RedisCluster, RedisServer
from scfkit import BRIDGE_SECRET_ID, BRIDGE_SECRET_KEY, LEGACY_SECRET_ID, LEGACY_SECRET_KEY, MockUpstream, toml_str

PREFIX = "scf-bridge-test:"


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture
def mock():
    server = MockUpstream()
    yield server
    server.close()


def start_replica(
    upstream: MockUpstream,
    *,
    redis_url: str | None,
    replay_store: str = "redis",
    on_error: str = "refuse",
    signing_hosts: tuple[str, ...] = (),
    max_skew_secs: int = 300,
    password_file: str | None = None,
    extra_redis: str = "",
    auth: bool = True,
    # Generous where the test is not about Redis being slow: on a loaded machine a
    # debug build may take longer than the production default (50 ms).
    timeout_ms: int = 2000,
) -> scfkit.ManagedProcess:
    port, admin = scfkit.free_port(), scfkit.free_port()
    hosts = ", ".join(toml_str(h) for h in ("scf.api.qcloud.com", *signing_hosts))
    auth_section = f"""
[auth]
mode = "verify"
replay_store = {toml_str(replay_store)}
max_skew_secs = {max_skew_secs}
signing_hosts = [{hosts}]

[[auth.clients]]
secret_id = {toml_str(LEGACY_SECRET_ID)}
secret_key = {toml_str(LEGACY_SECRET_KEY)}
upstream = "bridge"
""" if auth else '\n[auth]\nmode = "none"\n'
    redis_section = ""
    if redis_url is not None:
        redis_section = f"""
[redis]
url = {toml_str(redis_url)}
key_prefix = {toml_str(PREFIX)}
timeout_ms = {timeout_ms}
on_error = {toml_str(on_error)}
expiry_margin_secs = 1
{f"password_file = {toml_str(password_file)}" if password_file else ""}
{extra_redis}
"""
    config = f"""
[server]
listen = {toml_str(f"127.0.0.1:{port}")}
drain_delay_secs = 0

[admin]
listen = {toml_str(f"127.0.0.1:{admin}")}

[upstream]
endpoint = {toml_str(f"http://{upstream.host_port}")}

[credentials]
secret_id = {toml_str(BRIDGE_SECRET_ID)}
secret_key = {toml_str(BRIDGE_SECRET_KEY)}

[log]
format = "text"
{auth_section}
{redis_section}
"""
    proc = scfkit.start_bridge_with_config(config, port, (admin,))
    proc.admin_port = admin
    return proc


@pytest.fixture
def replicas():
    """Start replicas with start_replica(...); all are stopped at the end."""
    started: list[scfkit.ManagedProcess] = []

    def start(*args, **kw):
        proc = start_replica(*args, **kw)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.cleanup()


def admin_get(proc, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.admin_port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(proc, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    _, text = admin_get(proc, "/metrics")
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head != name and not head.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def wait_until(check, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}", pytrace=False)
        time.sleep(0.1)


def ready(proc) -> bool:
    return admin_get(proc, "/ready")[0] == 200


def sdk_request_captured(legacy_capture) -> str:
    """The exact request target the unmodified legacy SDK sends (captured, not built here)."""
    out = scfkit.run_legacy_sdk(legacy_capture.host_port, {"functionName": "hello", "param": '{"k": 1}'})
    assert out.ok, out.stderr
    [rec] = legacy_capture.take()
    assert rec.method == "GET" and rec.path == scfkit.LEGACY_PATH
    return rec.target


def replay(proc, target: str) -> scfkit.LegacyAnswer:
    """Send a captured request target, byte for byte, to a replica."""
    req = urllib.request.Request(f"http://{proc.host_port}{target}", method="GET")
    with scfkit._NO_PROXY_OPENER.open(req, timeout=30) as resp:
        return scfkit.LegacyAnswer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())


def invoke(proc, **kw) -> scfkit.LegacyAnswer:
    return scfkit.legacy_invoke(proc.host_port, {"functionName": "hello", **kw})


def code(answer: scfkit.LegacyAnswer) -> int:
    return answer.json()["code"]


# --------------------------------------------------------------------------- shared replay memory


def test_a_request_accepted_by_one_replica_is_refused_as_a_replay_by_the_others(
    redis_server, mock, replicas, legacy_capture
):
    three = [
        replicas(mock, redis_url=redis_server.url, signing_hosts=(legacy_capture.host_port,)) for _ in range(3)
    ]
    for proc in three:
        wait_until(lambda: ready(proc), what="replica ready")
    target = sdk_request_captured(legacy_capture)
    a, b, c = (replay(proc, target) for proc in three)
    assert code(a) == 0, a.body
    for other in (b, c):
        assert (other.status, code(other)) == (200, 4500), other.body
        assert other.headers["x-scf-bridge-error"] == "replay"
    assert len(mock.take()) == 1
    # One key, a keyed hash: nothing of the request in Redis.
    [key] = redis_server.keys(PREFIX + "r:*")
    assert len(key) == len(PREFIX) + 2 + 32
    params = dict(urllib.parse.parse_qsl(target.partition("?")[2]))
    for part in (params["Nonce"], params["Timestamp"], params["Signature"], LEGACY_SECRET_ID, LEGACY_SECRET_KEY):
        assert part not in key
        assert part not in redis_server.cli("GET", key)
    ttl = int(redis_server.cli("PTTL", key))
    assert 0 < ttl <= (300 + 300 + 1) * 1000


def test_with_the_memory_store_each_replica_accepts_the_replay_once(mock, replicas, legacy_capture):
    three = [replicas(mock, redis_url=None, replay_store="memory", signing_hosts=(legacy_capture.host_port,))
             for _ in range(3)]
    target = sdk_request_captured(legacy_capture)
    answers = [replay(proc, target) for proc in three]
    # The documented weakness of per-replica memory: every replica runs it once...
    assert [code(a) for a in answers] == [0, 0, 0], [a.body for a in answers]
    # ...and only a second visit to the same replica is refused.
    assert code(replay(three[0], target)) == 4500
    assert len(mock.take()) == 3


# --------------------------------------------------------------------------- faults


def drive(procs, stop: threading.Event, results: list, interval: float = 0.01):
    """Send fresh signed requests round-robin until `stop`; record (time, code, error header)."""
    i = 0
    while not stop.is_set():
        proc = procs[i % len(procs)]
        started = time.monotonic()
        ans = invoke(proc)
        results.append((started, time.monotonic() - started, code(ans), ans.headers.get("x-scf-bridge-error")))
        i += 1
        time.sleep(interval)


def test_redis_stopped_mid_load_refuse_mode_answers_4400_and_sends_nothing_then_reconnects(
    redis_server, mock, replicas
):
    three = [replicas(mock, redis_url=redis_server.url, on_error="refuse") for _ in range(3)]
    for proc in three:
        wait_until(lambda: ready(proc), what="replica ready")
    before: list = []
    stop = threading.Event()
    t = threading.Thread(target=drive, args=(three, stop, before))
    t.start()
    time.sleep(1.0)
    stop.set()
    t.join()
    assert before and all(c == 0 for _, _, c, _ in before), before[:5]
    assert len(mock.take()) == len(before)

    redis_server.stop()
    during: list = []
    stop = threading.Event()
    t = threading.Thread(target=drive, args=(three, stop, during))
    t.start()
    time.sleep(1.5)
    stop.set()
    t.join()
    assert during
    assert all((c, e) == (4400, "redis-unavailable") for _, _, c, e in during), during[:5]
    assert mock.take() == [], "nothing reaches SCF while the replay store is down"
    for proc in three:
        wait_until(lambda: not ready(proc), what="/ready to report redis down")
        status, body = admin_get(proc, "/ready")
        assert status == 503 and "redis" in body, body

    # Restarted on the same address: every replica reconnects by itself.
    redis_server.start()
    for proc in three:
        wait_until(lambda: ready(proc), what="/ready after redis came back")
        wait_until(lambda: code(invoke(proc)) == 0, what="requests accepted again")
    assert len(mock.take()) >= 3
    for proc in three:
        assert proc.proc.poll() is None, "no bridge restarted"
        assert metric(proc, "scf_bridge_redis_errors_total") > 0


def test_redis_stopped_mid_load_local_mode_keeps_serving_counted_and_logged_once(redis_server, mock, replicas):
    three = [replicas(mock, redis_url=redis_server.url, on_error="local") for _ in range(3)]
    for proc in three:
        wait_until(lambda: ready(proc), what="replica ready")
    redis_server.stop()
    results: list = []
    stop = threading.Event()
    t = threading.Thread(target=drive, args=(three, stop, results))
    t.start()
    time.sleep(1.5)
    stop.set()
    t.join()
    assert results and all(c == 0 for _, _, c, _ in results), results[:5]
    assert len(mock.take()) == len(results)
    fallbacks = sum(metric(p, "scf_bridge_redis_fallbacks_total", what="replay") for p in three)
    assert fallbacks == len(results)
    for proc in three:
        # Ready (degraded) in local mode; the incident is logged once, not per request.
        status, body = admin_get(proc, "/ready")
        assert status == 200 and "degraded" in body, body
        assert proc.stderr_text().count("serving from this replica's own memory") == 1, proc.stderr_text()[-3000:]
    # The local memory still refuses a replay sent to the same replica.
    params = scfkit.legacy_params({"functionName": "hello"}, host=three[0].host_port)
    assert code(scfkit.legacy_http(three[0].host_port, params)) == 0
    assert code(scfkit.legacy_http(three[0].host_port, params)) == 4500


def test_a_stalled_redis_costs_a_request_at_most_the_timeout(redis_server, mock, replicas):
    proc = replicas(mock, redis_url=redis_server.url, on_error="refuse", timeout_ms=50)
    wait_until(lambda: ready(proc), what="replica ready")
    assert code(invoke(proc)) == 0
    redis_server.pause()
    try:
        timings = []
        for _ in range(10):
            started = time.monotonic()
            ans = invoke(proc)
            timings.append(time.monotonic() - started)
            assert (code(ans), ans.headers.get("x-scf-bridge-error")) == (4400, "redis-unavailable"), ans.body
            assert "Redis" in ans.json()["message"]
        # 50 ms on Redis plus the bridge's and the client's own time: a generous bound.
        assert max(timings) < 1.0, timings
        assert mock.take()[1:] == []
    finally:
        redis_server.resume()
    wait_until(lambda: code(invoke(proc)) == 0, what="requests accepted after SIGCONT")
    assert metric(proc, "scf_bridge_redis_errors_total", kind="timeout") >= 10


def test_a_wrong_password_names_the_key_and_never_logs_the_secret(mock, replicas, tmp_path: Path):
    right, wrong = "rightRedisPassw0rd-4f1c", "wrongRedisPassw0rd-9a7e"
    server = RedisServer(password=right)
    try:
        pw = tmp_path / "redis-password"
        pw.write_text(wrong + "\n")
        proc = replicas(mock, redis_url=server.url, password_file=str(pw))
        def says_auth():
            status, body = admin_get(proc, "/ready")
            return status == 503 and "redis.password_file" in body and body
        body = wait_until(says_auth, what="/ready naming redis.password_file")
        assert "authentication failed" in body
        ans = invoke(proc)
        assert (code(ans), ans.headers.get("x-scf-bridge-error")) == (4400, "redis-unavailable")
        assert mock.take() == []
        log = proc.stderr_text()
        assert "redis.password_file" in log
        # The password file is re-read when it changes: no restart needed.
        pw.write_text(right + "\n")
        wait_until(lambda: ready(proc), what="/ready after the password was corrected")
        assert code(invoke(proc)) == 0
        log = proc.stderr_text()
        for secret in (right, wrong):
            assert secret not in log
            assert secret not in admin_get(proc, "/metrics")[1]
    finally:
        server.close()


def test_the_bridge_starts_while_redis_is_down_and_is_ready_once_it_answers(mock, replicas):
    server = RedisServer()
    port = server.port
    server.stop()
    try:
        proc = replicas(mock, redis_url=f"redis://127.0.0.1:{port}")
        assert proc.proc.poll() is None
        status, body = admin_get(proc, "/ready")
        assert status == 503 and "redis" in body, body
        assert code(invoke(proc)) == 4400
        server.start()
        wait_until(lambda: ready(proc), what="/ready once redis answers")
        assert code(invoke(proc)) == 0
    finally:
        server.close()


# --------------------------------------------------------------------------- memory


def test_keys_expire_with_the_window_and_a_burst_of_n_leaves_at_most_n(redis_server, mock, replicas):
    # A 2 s window and a 1 s margin: a key lives at most Timestamp + 3 s.
    proc = replicas(mock, redis_url=redis_server.url, max_skew_secs=2)
    wait_until(lambda: ready(proc), what="replica ready")
    n = 40
    answers = [invoke(proc) for _ in range(n)]
    assert [code(a) for a in answers] == [0] * n
    held = redis_server.keys(PREFIX + "r:*")
    assert 0 < len(held) <= n
    # Measured, not assumed: what one key costs in this Redis.
    usage = [int(redis_server.cli("MEMORY", "USAGE", k) or 0) for k in held[:10]]
    assert all(0 < u <= 128 for u in usage), usage
    wait_until(lambda: not redis_server.keys(PREFIX + "r:*"), timeout=10, what="every key to expire")


# --------------------------------------------------------------------------- shared throttle budget

LIMIT_PER_SEC = 100


class RateLimitedUpstream(MockUpstream):
    """The mock 3.0 endpoint with SCF's Invoke limit, modelled as the emulator models it:
    a token bucket holding one second of requests (LIMIT_PER_SEC), refilled continuously;
    a call that finds it empty is answered RequestLimitExceeded and not run."""

    def __init__(self):
        super().__init__()
        self.tokens = float(LIMIT_PER_SEC)
        self.last = time.monotonic()
        self.run_times: list[float] = []
        self.limited = 0
        self._rate_lock = threading.Lock()
        self.answer = self._limited

    def _limited(self, rec):
        with self._rate_lock:
            now = time.monotonic()
            self.tokens = min(LIMIT_PER_SEC, self.tokens + (now - self.last) * LIMIT_PER_SEC)
            self.last = now
            if self.tokens < 1.0:
                self.limited += 1
                return scfkit.v3_error("RequestLimitExceeded", "mock: over the Invoke limit")
            self.tokens -= 1.0
            self.run_times.append(now)
        return scfkit.v3_result(FunctionRequestId="f", RetMsg="", ErrMsg="", Log="", MemUsage=0, Duration=0,
                                BillDuration=0, InvokeResult=0)


def offer_300_a_second(replicas_: list) -> tuple[dict, list, list]:
    """~300 asynchronous InvokeFunction calls a second for 3 s, round-robin over the
    replicas, from legacy_load.py's own process. Returns its report, (code, error kind)
    per call, and every answer that is neither success nor the bridges' own budget."""
    seconds, offered_rate = 3.0, 300
    job = {"targets": [p.host_port for p in replicas_], "count": int(seconds * offered_rate),
           "rate": offered_rate,
           "params": {"Action": "InvokeFunction", "functionName": "hello", "invokeType": "Event"}}
    run = subprocess.run([sys.executable, str(scfkit.HERE / "legacy_load.py")], input=json.dumps(job),
                         capture_output=True, text=True, timeout=120, env=scfkit.clean_env())
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    outcomes = [tuple(o[:2]) for o in report["outcomes"]]
    unexpected = [o for o in report["outcomes"] if o[0] != 0 and o[1] != "throttle-budget"]
    assert len(outcomes) == int(seconds * offered_rate)
    return report, outcomes, unexpected


def test_three_replicas_share_one_throttle_budget_below_the_emulators_limit(redis_server, replicas):
    """The same against the real 3.0 emulator, whose Invoke limit is SCF's documented
    100/s: its RequestLimitExceeded would reach the caller as a 4400 without the bridge's
    own error kind, and none does."""
    emulator = scfkit.start_emulator(extra_args=("--rate-limit", f"Invoke={LIMIT_PER_SEC}"))
    try:
        three = [
            replicas(emulator, redis_url=redis_server.url, replay_store="memory", auth=False,
                     extra_redis="rate_limits = true\nrate_limit_wait_ms = 100")
            for _ in range(3)
        ]
        for proc in three:
            wait_until(lambda: ready(proc), what="replica ready")
        report, outcomes, unexpected = offer_300_a_second(three)
        assert not unexpected, unexpected[:5]
        passed = sum(1 for o in outcomes if o[0] == 0)
        assert 0 < passed <= LIMIT_PER_SEC * report["seconds"] + LIMIT_PER_SEC
        assert any(o == (4400, "throttle-budget") for o in outcomes)
        print(f"emulator: offered {len(outcomes)} in {report['seconds']:.1f}s, passed {passed}")
    finally:
        emulator.cleanup()


def test_three_replicas_share_one_throttle_budget_below_the_upstream_limit(redis_server, replicas):
    upstream = RateLimitedUpstream()
    try:
        three = [
            replicas(upstream, redis_url=redis_server.url, replay_store="memory", auth=False,
                     extra_redis="rate_limits = true\nrate_limit_wait_ms = 100")
            for _ in range(3)
        ]
        for proc in three:
            wait_until(lambda: ready(proc), what="replica ready")
        report, outcomes, unexpected = offer_300_a_second(three)
        passed = [o for o in outcomes if o[0] == 0]
        refused = [o for o in outcomes if o[0] != 0]
        # Nothing came back from SCF's own limiter; every refusal is the bridges' budget.
        assert upstream.limited == 0, f"{upstream.limited} RequestLimitExceeded from the upstream"
        assert not unexpected, unexpected[:5]
        assert len(passed) == len(upstream.run_times)
        # Within the limit over the run as a whole (a bucket of one second's requests on top).
        span = upstream.run_times[-1] - upstream.run_times[0]
        assert len(passed) <= LIMIT_PER_SEC * span + LIMIT_PER_SEC, (len(passed), span)
        assert refused, "300/s offered against a 90/s budget must refuse some"
        waited = sum(metric(p, "scf_bridge_throttle_wait_seconds_count") for p in three)
        refused_metric = sum(metric(p, "scf_bridge_throttle_refused_total") for p in three)
        assert refused_metric == len(refused)
        assert waited > 0, "with the bucket saturated, granted calls wait for their token"
        print(f"offered {len(outcomes)} in {report['seconds']:.1f}s, passed {len(passed)} "
              f"({len(passed) / span:.0f}/s at the upstream), refused {len(refused)}, waited {waited:.0f}")
    finally:
        upstream.close()


# --------------------------------------------------------------------------- rediss:// (TLS)


def test_replicas_share_a_redis_over_tls_verified_against_redis_ca_file(mock, replicas, tmp_path: Path):
    pki = scfkit.make_pki(str(tmp_path), names=("localhost",), ips=("127.0.0.1",))
    server = RedisServer(pki=pki)
    try:
        assert server.url.startswith("rediss://")
        two = [replicas(mock, redis_url=server.url, extra_redis=f"ca_file = {toml_str(pki.ca_file)}")
               for _ in range(2)]
        for proc in two:
            wait_until(lambda: ready(proc), what="replica ready over TLS")
        params = scfkit.legacy_params({"functionName": "hello"}, host=two[0].host_port)
        assert code(scfkit.legacy_http(two[0].host_port, params)) == 0
        # The same request at the other replica: refused through the shared, encrypted store.
        params_b = scfkit.legacy_params({"functionName": "hello", "Nonce": params["Nonce"],
                                         "Timestamp": params["Timestamp"]}, host=two[1].host_port)
        assert code(scfkit.legacy_http(two[1].host_port, params_b)) == 4500
        assert len(server.keys(PREFIX + "r:*")) == 1
        # Without the CA the certificate is not trusted: not ready, nothing sent.
        mock.take()
        untrusting = replicas(mock, redis_url=server.url)
        def refuses_tls():
            status, body = admin_get(untrusting, "/ready")
            return status == 503 and "redis" in body and body
        wait_until(refuses_tls, what="/ready refusing an untrusted Redis certificate")
        assert code(invoke(untrusting)) == 4400
        assert mock.take() == []
    finally:
        server.close()


# --------------------------------------------------------------------------- Redis Cluster


def test_replicas_share_the_replay_memory_and_budget_through_a_redis_cluster(mock, replicas, legacy_capture):
    cluster = RedisCluster()
    try:
        two = [replicas(mock, redis_url=cluster.url, signing_hosts=(legacy_capture.host_port,),
                        extra_redis="rate_limits = true") for _ in range(2)]
        for proc in two:
            wait_until(lambda: ready(proc), what="replica ready on the cluster")
        target = sdk_request_captured(legacy_capture)
        first, again = replay(two[0], target), replay(two[1], target)
        assert code(first) == 0, first.body
        assert code(again) == 4500, again.body
        # Fresh requests spread their keys over the cluster's nodes.
        for i in range(30):
            assert code(invoke(two[i % 2])) == 0
        keys = cluster.keys(PREFIX + "r:*")
        assert len(keys) == 31
        assert sum(1 for p in cluster.ports if cluster.cli(p, "--scan", "--pattern", PREFIX + "r:*")) >= 2
        # The throttle bucket lives in the cluster too.
        assert len(cluster.keys(PREFIX + "rl:*")) == 1
        assert len(mock.take()) == 31
    finally:
        cluster.close()
