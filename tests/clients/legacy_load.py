"""Paced load of legacy requests, in its own process (so the measuring mock upstream in
the test process does not share an interpreter lock with the senders).

Reads a JSON job on stdin: {"targets": ["host:port", ...], "count": N, "rate": R,
"params": {...}}; sends N GET /v2/index.php requests at R per second, round-robin over
the targets, each with a fresh Nonce and the current Timestamp; prints one JSON list of
[code, X-Scf-Bridge-Error] per request."""

from __future__ import annotations

import concurrent.futures
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send(host_port: str, params: dict[str, str]) -> list:
    params = dict(params, Nonce=str(random.randint(1, 2**62)), Timestamp=str(int(time.time())))
    url = f"http://{host_port}/v2/index.php?{urllib.parse.urlencode(params)}"
    try:
        with OPENER.open(url, timeout=30) as resp:
            body, headers = resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        body, headers = e.read(), e.headers
    doc = json.loads(body)
    return [doc["code"], headers.get("X-Scf-Bridge-Error"), doc.get("message", "")]


def main() -> None:
    job = json.load(sys.stdin)
    targets, count, rate = job["targets"], job["count"], job["rate"]
    outcomes: list = [None] * count
    lock = threading.Lock()

    def one(i: int) -> None:
        result = send(targets[i % len(targets)], job["params"])
        with lock:
            outcomes[i] = result

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    json.dump({"outcomes": outcomes, "seconds": time.monotonic() - started}, sys.stdout)


if __name__ == "__main__":
    main()
