"""Child-process runner: one call of the UNMODIFIED legacy SDK over plain HTTP.

stdin:  {"transport": "plain", "host": "127.0.0.1:PORT", "config": {...}, "action": "...", "params": {...}, "timeout": N}
     or {"transport": "tls-redirect", "redirect": ["scf.api.qcloud.com", 443, "127.0.0.1", PORT], ...}
        (no SDK patch at all: only name resolution is redirected; trust comes from SSL_CERT_FILE)
stdout: {"ok": true, "body_b64": "..."}  (the raw bytes QcloudApi.call() returned)
     or {"ok": false, "error_type": "...", "error_text": "...", "http_status": N|null, "body_b64": ...|null}
"""

import base64
import json
import sys

from legacy_plain_http import install, redirect_dns


def main() -> None:
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    if job.get("transport", "plain") == "plain":
        install(job["host"])
    else:
        redirect_dns(*job["redirect"])
    from QcloudApi.common.api_exception import ApiServerNetworkException
    from QcloudApi.qcloudapi import QcloudApi

    service = QcloudApi("scf", job["config"])
    try:
        body = service.call(job["action"], job["params"], req_timeout=job["timeout"])
        out = {"ok": True, "body_b64": base64.b64encode(body).decode("ascii")}
    except ApiServerNetworkException as e:  # the SDK's answer to any non-200 status
        data = e.data if isinstance(e.data, bytes) else str(e.data).encode("utf-8")
        out = {"ok": False, "error_type": type(e).__name__, "error_text": str(e),
               "http_status": e.status, "body_b64": base64.b64encode(data).decode("ascii")}
    except Exception as e:  # noqa: BLE001 - reported to the test, which decides
        out = {"ok": False, "error_type": type(e).__name__, "error_text": str(e),
               "http_status": None, "body_b64": None}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
