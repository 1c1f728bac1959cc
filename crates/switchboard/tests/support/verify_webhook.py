"""Verifies one webhook delivery with the Standard Webhooks reference library.

Reads {"secret": ..., "headers": {...}, "body": "..."} on stdin; exits 0 when the signature
verifies, 1 (with the library's reason on stderr) when it does not.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

request = json.load(sys.stdin)
try:
    payload = Webhook(request["secret"]).verify(request["body"], request["headers"])
except WebhookVerificationError as e:
    print(f"refused: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"verified": True, "type": payload.get("type")}))
