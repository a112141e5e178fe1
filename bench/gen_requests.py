#!/usr/bin/env python3
"""Precompute signed legacy InvokeFunction POST bodies for the benchmark.

wrk's Lua has no HMAC, and the bridge refuses a (SecretId, Nonce, Timestamp)
it has already seen (4500), so every request must be signed beforehand and
sent exactly once. To keep the files small, each shard file holds

    line 1:  the form body shared by every request (no Nonce, no Signature)
    line n:  "&Nonce=<n>&Signature=<url-encoded base64>" for one request

and a request body is line 1 + line n. Nonces are `--nonce-base + i`, unique
across shards; the Timestamp is the same for the whole file (the time of
generation, or --timestamp), so the files must be used within the bridge's
auth.max_skew_secs.

The signature is computed here, independently of the bridge's own code,
following the legacy v1 rules (legacy-v2.md §2.1): all parameters but
Signature, keys sorted in byte order (no key here has `_`), raw values,
"POST" + host + "/v2/index.php?" + k=v&..., HmacSHA256, standard base64.
"""

import argparse
import base64
import hashlib
import hmac
import os
import time
import urllib.parse


def event(size):
    """A JSON event of exactly `size` bytes (same recipe as benches/micro.rs)."""
    fill = b"The quick brown fox, 42 jumps over: the lazy dog! "
    overhead = len('{"data":""}')
    n = max(size - overhead, 0)
    body = (fill * (n // len(fill) + 1))[:n].decode()
    return '{"data":"' + body + '"}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output prefix; shards are OUT.0, OUT.1, ...")
    ap.add_argument("--count", type=int, required=True, help="requests in all shards together")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--secret-id", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--host", default="scf.api.qcloud.com", help="host covered by the signature")
    ap.add_argument("--param-bytes", type=int, default=1024)
    ap.add_argument("--function", default="hello")
    ap.add_argument("--nonce-base", type=int, default=1)
    ap.add_argument("--timestamp", type=int, default=0, help="default: now")
    a = ap.parse_args()

    ts = a.timestamp or int(time.time())
    key = a.secret_key.encode()
    params = {
        "Action": "InvokeFunction",
        "Region": "gz",
        "SecretId": a.secret_id,
        "SignatureMethod": "HmacSHA256",
        "Timestamp": str(ts),
        "functionName": a.function,
        "param": event(a.param_bytes),
    }
    # The string to sign with the Nonce cut out: everything sorting before
    # "Nonce" (only "Action") goes left, the rest right.
    assert all("_" not in k for k in params)
    keys = sorted(list(params) + ["Nonce"])
    at = keys.index("Nonce")
    left = "POST" + a.host + "/v2/index.php?" + "&".join(f"{k}={params[k]}" for k in keys[:at])
    left += ("&" if at else "") + "Nonce="
    right = "&" + "&".join(f"{k}={params[k]}" for k in keys[at + 1:])
    left_b, right_b = left.encode(), right.encode()
    # HMAC state after the shared left part, copied per request.
    base = hmac.new(key, left_b, hashlib.sha256)

    prefix = urllib.parse.urlencode(params)  # quote_plus, as the Python SDK sends
    quote = urllib.parse.quote_plus
    per_shard = -(-a.count // a.shards)
    nonce = a.nonce_base
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    for s in range(a.shards):
        n = min(per_shard, a.count - s * per_shard)
        with open(f"{a.out}.{s}", "w", buffering=1 << 22) as f:
            f.write(prefix + "\n")
            lines = []
            for _ in range(max(n, 0)):
                h = base.copy()
                nb = str(nonce).encode()
                h.update(nb + right_b)
                sig = quote(base64.b64encode(h.digest()).decode())
                lines.append(f"&Nonce={nonce}&Signature={sig}\n")
                nonce += 1
                if len(lines) >= 65536:
                    f.write("".join(lines))
                    lines.clear()
            f.write("".join(lines))
    print(f"{a.count} requests, {a.shards} shard(s), Timestamp {ts}, "
          f"nonces {a.nonce_base}..{nonce - 1}, body {len(prefix) + 60} B approx")


if __name__ == "__main__":
    main()
