"""Checks the worked examples of docs/protocol.md with jwcrypto: an implementation the hub's code
has nothing to do with reads what the page says the same way.

    python3 check_examples.py [path/to/docs/protocol.md]

Prints `ok N - …` for each check; exits 1 at the first that fails.
"""

import base64
import json
import os
import re
import sys

from jwcrypto import jwk

from trm_agency import (
    audit_leaf_hash,
    canonical_json,
    compact_part,
    decrypt_sensitive,
    sha256_b64url,
    verify_checkpoint_note,
    verify_jws,
    verify_webhook,
)

checks = 0


def check(condition, what):
    global checks
    checks += 1
    print(f"{'ok' if condition else 'not ok'} {checks} - {what}", flush=True)
    if not condition:
        sys.exit(1)


def examples(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    pattern = re.compile(r"^```[^\n]*?\bexample:([a-z0-9-]+)[^\n]*\n(.*?)\n```$", re.M | re.S)
    return {name: body for name, body in pattern.findall(text)}


def public_jwks(private):
    return {"keys": [{k: v for k, v in private.items() if k != "d"}]}


def main():
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "protocol.md")
    found = examples(sys.argv[1] if len(sys.argv) > 1 else default)
    text = found.__getitem__
    data = lambda name: json.loads(found[name])  # noqa: E731

    hub, ro_sig, de_sig, de_enc = (data(f"key-{n}") for n in ("hub", "ro-sig", "de-sig", "de-enc"))
    for key in (hub, ro_sig, de_sig, de_enc):
        public = json.loads(jwk.JWK(**key).export_public())
        check(public["x"] == key["x"] and public.get("y") == key.get("y"), f"{key['kid']} is a whole key pair")

    _, claims = verify_jws(text("assertion"), public_jwks(ro_sig), ("EdDSA",))
    check(json.loads(claims) == data("assertion-claims"), "the client assertion verifies with the NGO key")
    token = data("token-response")["access_token"]
    _, claims = verify_jws(token, public_jwks(hub), ("EdDSA",), "at+jwt")
    claims = json.loads(claims)
    check(claims == data("access-token-claims") and claims["aud"] == claims["iss"], "the access token: hub-signed, aud = iss")

    header, payload = verify_jws(text("referral-jws"), public_jwks(ro_sig), ("EdDSA",), "trm-referral+json")
    check(json.loads(payload) == data("referral-document"), "the referral JWS verifies and carries the document")
    check(sha256_b64url(payload) == text("referral-payload-sha256"), "payloadSha256 is the digest of its payload bytes")

    _, receipt = verify_jws(text("receipt"), public_jwks(hub), ("EdDSA",), "trm-receipt+json")
    check(receipt.decode("utf-8") == text("receipt-payload"), "the receipt verifies; its payload bytes are as shown")
    receipt = json.loads(receipt)
    check(receipt["payloadSha256"] == sha256_b64url(payload), "the receipt names the referral's digest")
    check(list(receipt) == ["referralId", "sender", "recipient", "payloadSha256", "receivedAt"], "receipt members in order")

    _, evidence = verify_jws(text("evidence"), public_jwks(hub), ("EdDSA",), "trm-evidence+jws")
    check(evidence.decode("utf-8") == text("evidence-payload"), "the evidence verifies; its payload bytes are as shown")
    evidence = json.loads(evidence)
    check(list(evidence) == ["referralId", "event", "at", "recipient", "payloadSha256"], "evidence members in order")
    check(evidence["payloadSha256"] == receipt["payloadSha256"], "the evidence names the receipt's digest")
    check(data("inbox-evidence")["body"] == {"event": evidence["event"], "evidence": text("evidence")}, "its inbox message")

    _, ack = verify_jws(text("ack-jws"), public_jwks(de_sig), ("ES256",), "trm-ack+json")
    check(json.loads(ack) == data("ack-document"), "the acknowledgement verifies with the NCP's P-256 key")
    _, ack_receipt = verify_jws(text("ack-receipt"), public_jwks(hub), ("EdDSA",), "trm-receipt+json")
    check(json.loads(ack_receipt)["payloadSha256"] == sha256_b64url(ack), "its receipt names its digest")

    check(decrypt_sensitive(text("sensitive-jwe"), de_enc) == data("sensitive-plaintext"), "the sensitive JWE opens")
    check(json.loads(compact_part(text("sensitive-jwe"), 0))["cty"] == "application/json", "its cty is application/json")

    head, body = text("webhook-request").split("\n\n")
    headers = dict(line.split(": ", 1) for line in head.split("\n")[1:])
    message = verify_webhook(body.encode("utf-8"), headers["trm-signature"], public_jwks(hub))
    check(message == data("inbox-status") and headers["trm-message-id"] == message["id"], "the webhook signature holds")

    event = data("audit-event")
    chained = {k: v for k, v in event.items() if k not in ("index", "leafHash")}
    check(text("audit-hash-input") == canonical_json(chained), "the leaf bytes are JCS of the event")
    check(audit_leaf_hash(event) == base64.b64decode(event["leafHash"]), "the audit event hashes to its leaf hash")
    check(event["index"] == event["seq"] - 1, "its leaf index is seq - 1")
    lines = text("checkpoint-payload").split("\n")
    note = {"origin": lines[0], "size": int(lines[1]), "rootHash": lines[2], "note": text("checkpoint") + "\n"}
    check(verify_checkpoint_note(note, public_jwks(hub)), "the checkpoint note is signed by the hub")

    print(f"{checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
