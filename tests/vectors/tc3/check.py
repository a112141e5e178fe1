#!/usr/bin/env python3
"""Cross-checks the official TC3 vectors in this folder with hashlib/hmac only.

Every published value (api3.md 3.2/3.3) is asserted from first principles, then the
files on disk are compared with what the published values imply.
`python3 check.py` checks; `python3 check.py --write` (re)writes the files.
"""
import hashlib, hmac, json, os, sys
os.chdir(os.path.dirname(os.path.abspath(__file__)))
WRITE = "--write" in sys.argv
bad = []
def emit(path, data):
    data = data.encode() if isinstance(data, str) else data
    if WRITE:
        open(path, "wb").write(data)
    elif not os.path.exists(path) or open(path, "rb").read() != data:
        bad.append(path)
PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
assert len(PAYLOAD) == 86
HP = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
assert hashlib.sha256(PAYLOAD).hexdigest() == HP
CT = "application/json; charset=utf-8"; HOST = "cvm.tencentcloudapi.com"
def h(k, m): return hmac.new(k, m.encode(), hashlib.sha256).digest()
cases = {
 "gen-a-example-key": dict(secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
    action=False, hcr="5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
    signing="ac658d5dde49e9bfdd14e04e062f66b05d9f637d44b8a8d845327d4a77f666b1",
    sig="72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
    source="Generation A: intl 'Signature v3' doc worked example (CVM DescribeInstances), published signature and authorization; SecretSigning computed (api3.md 3.2/3.3)"),
 "gen-b-masked-key": dict(secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", secret_key="Gu5t9xGARNpq86cd98joQYCN3*******",
    action=False, hcr="5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031",
    signing="8aa8ab5755582f576e94bcfe383b8e29325b0ca90c3590d569221c6a63a091ed",
    sig="2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
    source="Generation B: same request with the literal masked key of a doc revision and the official demo repo (api3.md 3.2/3.3)"),
 "gen-c-x-tc-action": dict(secret_id="AKID" + "*" * 32, secret_key="*" * 32,
    action=True, hcr="7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84",
    secret_date="da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0",
    secret_service="8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f",
    signing="b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af",
    sig="10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f",
    source="Generation C: current CN doc revision, x-tc-action signed with a lower-cased value (api3.md 3.2/3.3)"),
}
for name, c in cases.items():
    if WRITE:
        os.makedirs(name, exist_ok=True)
    headers = [["Content-Type", CT], ["Host", HOST]]
    ch = f"content-type:{CT}\nhost:{HOST}\n"; sh = "content-type;host"
    if c["action"]:
        headers.append(["X-TC-Action", "DescribeInstances"]); ch += "x-tc-action:describeinstances\n"; sh += ";x-tc-action"
    cr = f"POST\n/\n\n{ch}\n{sh}\n{HP}"
    assert hashlib.sha256(cr.encode()).hexdigest() == c["hcr"], name
    scope = "2019-02-25/cvm/tc3_request"
    sts = f"TC3-HMAC-SHA256\n1551113065\n{scope}\n{c['hcr']}"
    kd = h(("TC3" + c["secret_key"]).encode(), "2019-02-25"); ks = h(kd, "cvm"); kk = h(ks, "tc3_request")
    if "secret_date" in c:
        assert kd.hex() == c["secret_date"] and ks.hex() == c["secret_service"], name
    assert kk.hex() == c["signing"], name
    assert hmac.new(kk, sts.encode(), hashlib.sha256).hexdigest() == c["sig"], name
    auth = f"TC3-HMAC-SHA256 Credential={c['secret_id']}/{scope}, SignedHeaders={sh}, Signature={c['sig']}"
    ctx = {"source": c["source"], "method": "POST", "uri": "/", "query": "", "host": HOST, "content_type": CT,
           "action": "DescribeInstances", "version": "2017-03-12", "region": "ap-guangzhou",
           "service": "cvm", "timestamp": 1551113065, "date": "2019-02-25",
           "secret_id": c["secret_id"], "secret_key": c["secret_key"],
           "headers": headers, "signed_headers": sh}
    files = {"context.json": json.dumps(ctx, indent=2) + "\n", "hashed-payload.txt": HP, "canonical-request.txt": cr,
             "hashed-canonical-request.txt": c["hcr"], "string-to-sign.txt": sts, "signing-key.txt": c["signing"],
             "signature.txt": c["sig"], "authorization.txt": auth}
    if "secret_date" in c:
        files["secret-date.txt"] = c["secret_date"]; files["secret-service.txt"] = c["secret_service"]
    for f, t in files.items():
        emit(os.path.join(name, f), t)
    emit(os.path.join(name, "payload.txt"), PAYLOAD)
if bad:
    sys.exit("differs from the published values: " + ", ".join(bad))
print("ok: all vectors match the published values")
