"""A whole exchange between two agencies through TRM Hub, checked step by step.

    python3 demo.py --hub URL --sender-id ID --sender-keys DIR --recipient-id ID --recipient-keys DIR

The sender (say an NGO) refers a case, with an encrypted `sensitive` member, to the recipient's
country (its national contact point must be the recipient) and takes messages by webhook on a
local port; the recipient reads its inbox, opens the case and acknowledges it. Every answer is
checked as docs/protocol.md says; each check prints `ok N - …`, the first that fails prints
`not ok` and exits 1. All data is invented. The webhook part needs a hub that may call
http://127.0.0.1 (WEBHOOK_ALLOW_LOOPBACK=true, development only); --no-webhook leaves it out.
"""

import argparse
import base64
import http.server
import json
import queue
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

from trm_agency import (
    Agency,
    HubError,
    ProtocolError,
    audit_leaf_hash,
    b64url,
    compact_part,
    decrypt_sensitive,
    encrypt_sensitive,
    sha256_b64url,
    sign_document,
    verify_checkpoint_note,
    verify_evidence,
    verify_inclusion,
    verify_jws,
    verify_receipt,
    verify_webhook,
)

checks = 0


def check(condition, what):
    global checks
    checks += 1
    if not condition:
        print(f"not ok {checks} - {what}", flush=True)
        sys.exit(1)
    print(f"ok {checks} - {what}", flush=True)


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookReceiver:
    """A local HTTP server that keeps each request's headers and raw body and answers 204."""

    def __init__(self, host="127.0.0.1"):
        received = self.received = queue.Queue()
        self.skipped = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.put((dict((k.lower(), v) for k, v in self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{host}:{self.server.server_address[1]}/trm/webhook"

    def next(self, timeout=20):
        return self.received.get(timeout=timeout)

    def next_of(self, *types, timeout=20):
        """The next request carrying a message of one of `types`; the others (say `evidence`, whose
        POST may come before or after) are kept in `skipped`."""
        while True:
            headers, body = self.next(timeout)
            if json.loads(body).get("type") in types:
                return headers, body
            self.skipped.append((headers, body))


def until(fetch, condition, timeout=20):
    """Calls fetch until condition(result) holds, for at most `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        result = fetch()
        if condition(result) or time.time() > deadline:
            return result
        time.sleep(0.2)


def holds(call):
    """The result of a verification, or None when it does not hold."""
    try:
        return call()
    except Exception as error:  # jwcrypto raises its own exception types for a bad signature
        print(f"# {type(error).__name__}: {error}", flush=True)
        return None


def refused(call):
    """The problem document of a call expected to fail with a 4xx."""
    try:
        call()
    except HubError as error:
        return error.status, error.problem
    return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--sender-id", required=True)
    parser.add_argument("--sender-keys", required=True)
    parser.add_argument("--recipient-id", required=True)
    parser.add_argument("--recipient-keys", required=True)
    parser.add_argument("--no-webhook", action="store_true")
    args = parser.parse_args()

    sender = Agency(args.hub, args.sender_id, args.sender_keys)
    recipient = Agency(args.hub, args.recipient_id, args.recipient_keys)

    # Tokens and the directory
    metadata = sender.metadata()
    check(metadata["token_endpoint"].endswith("/v1/oauth/token"), "the hub publishes its token endpoint")
    hub_jwks = sender.hub_jwks()
    check(all(k["kty"] == "OKP" and k["crv"] == "Ed25519" for k in hub_jwks["keys"]), "the hub keys are Ed25519")
    token = sender.token()
    _, claims = verify_jws(token, hub_jwks, ("EdDSA",), "at+jwt")
    claims = json.loads(claims)
    check(claims["iss"] == metadata["issuer"] and claims["aud"] == metadata["issuer"], "token iss and aud are the hub")
    check(claims["sub"] == sender.id and "referrals:write" in claims["scope"].split(), "token for the sender")
    check(recipient.token() != token, "a token for the recipient")
    entry = sender.agency(recipient.id)
    check(entry["nationalContactPoint"] is True, f"the recipient is {entry['country']}'s national contact point")
    recipient_enc = next(k for k in entry["jwks"]["keys"] if k["use"] == "enc" and k.get("status", "active") == "active")
    check(recipient_enc["alg"] == "ECDH-ES+A256KW", "the recipient has an encryption key")

    webhooks = None
    if not args.no_webhook:
        webhooks = WebhookReceiver()
        _, updated = sender.call("PATCH", f"/v1/agencies/{sender.id}", {"delivery": {"mode": "push", "url": webhooks.url}})
        check(updated["delivery"] == {"mode": "push", "url": webhooks.url}, "the sender takes webhooks now")

    # A referral with a sensitive member
    details = {
        "language": "en",
        "person": {"givenNames": "Example", "familyNames": "Placeholder", "dateOfBirth": "2001", "sex": "female"},
        "narrative": "Invented text for the Python example; nobody real.",
    }
    jwe = encrypt_sensitive(details, recipient_enc)
    check(json.loads(compact_part(jwe, 0))["cty"] == "application/json", "sensitive is JSON, said by cty")
    document = {
        "id": str(uuid.uuid4()),
        "sender": sender.id,
        "recipient": {"country": entry["country"]},
        "createdAt": now(),
        "urgency": "urgent",
        "stage": "first_assistance",
        "victim": {
            "status": "presumed", "ageGroup": "24-26", "minor": False, "gender": "female",
            "citizenship": ["RO"], "languages": ["ro"],
        },
        "exploitation": {"forms": ["forced_labour"], "countries": [entry["country"]], "identifiedIn": entry["country"]},
        "needs": ["accommodation", "interpretation"],
        "consent": {"status": "given", "scope": ["assistance"], "recordedAt": now(), "byGuardian": False},
        "sensitive": jwe,
    }
    referral_jws, payload = sign_document(document, sender.signing, "trm-referral+json")
    status, answer = sender.call("POST", "/v1/referrals", {"jws": referral_jws})
    check(status == 201 and answer["status"] == "submitted", "the referral is accepted (201)")
    check(answer["recipient"]["agencyId"] == recipient.id, "routed to the national contact point")
    receipt = holds(lambda: verify_receipt(answer["receipt"], hub_jwks, payload, {
        "referralId": document["id"], "sender": sender.id, "recipient": recipient.id,
    }))
    check(receipt, "the receipt is signed by the hub over the digest of our payload bytes")
    check(receipt["receivedAt"] == answer["submittedAt"], "the receipt's time is the submission's")
    check(sha256_b64url(compact_part(referral_jws, 1)) == receipt["payloadSha256"], "payloadSha256 = SHA-256 of the JWS payload bytes")

    status, again = sender.call("POST", "/v1/referrals", {"jws": referral_jws})
    check(status == 200 and again["receipt"] == answer["receipt"], "a replay gets 200 and the first receipt")
    other_bytes, _ = sign_document({**document, "needs": ["accommodation"]}, sender.signing, "trm-referral+json")
    status, problem = refused(lambda: sender.call("POST", "/v1/referrals", {"jws": other_bytes}))
    check(status == 422 and problem["code"] == "TRM_DUPLICATE_MISMATCH", "the same id over other bytes is 422")
    wrong_cty = encrypt_sensitive(details, recipient_enc).split(".")
    header = json.loads(compact_part(".".join(wrong_cty), 0))
    header["cty"] = "text/plain"
    wrong_cty[0] = b64url(json.dumps(header).encode())
    bad, _ = sign_document({**document, "id": str(uuid.uuid4()), "sensitive": ".".join(wrong_cty)},
                           sender.signing, "trm-referral+json")
    status, problem = refused(lambda: sender.call("POST", "/v1/referrals", {"jws": bad}))
    check(status == 422 and problem["errors"][0]["pointer"] == "/sensitive", "a JWE with another cty is refused at /sensitive")

    # The recipient's inbox
    page = until(lambda: recipient.inbox(wait=10), lambda p: any(i["referralId"] == document["id"] for i in p["items"]))
    item = next((i for i in page["items"] if i["referralId"] == document["id"]), None)
    check(item is not None and item["type"] == "referral", "the referral is in the recipient's inbox")
    check(item["jws"] == referral_jws, "as the sender signed it, byte for byte")
    sender_jwks = recipient.agency_jwks(sender.id)
    _, signed = verify_jws(item["jws"], sender_jwks, ("ES256", "EdDSA"), "trm-referral+json")
    check(signed == payload, "the sender's directory key verifies it")
    opened = decrypt_sensitive(json.loads(signed)["sensitive"], recipient.encryption)
    check(opened == details, "the recipient opens the sensitive details")
    check(recipient.confirm(item["cursor"]) >= 1, "the recipient confirms its inbox")

    if webhooks:
        headers, body = webhooks.next_of("status")
        message = holds(lambda: verify_webhook(body, headers["trm-signature"], hub_jwks))
        check(message, "a webhook signed by the hub over its exact body")
        check(headers["trm-message-id"] == message["id"], "trm-message-id names the message")
        check(message["type"] == "status" and message["body"] == {"status": "delivered", "via": "inbox"},
              "the sender hears that the referral was delivered")
        tampered = body.replace(b'"inbox"', b'"webhook"')
        check(tampered != body and not holds(lambda: verify_webhook(tampered, headers["trm-signature"], hub_jwks)),
              "a changed body does not verify")

    # Evidence: the recipient's inbox confirmation gave the sender hub-signed delivery evidence
    _, listed = sender.call("GET", f"/v1/referrals/{document['id']}/evidence")
    delivery = next((i for i in listed["items"] if i["event"] == "delivery"), None)
    check(delivery and holds(lambda: verify_evidence(delivery["jws"], hub_jwks, {
        "referralId": document["id"], "event": "delivery", "recipient": recipient.id,
        "payloadSha256": receipt["payloadSha256"],
    })), "delivery evidence, signed by the hub over the receipt's digest")

    # Acknowledgements
    def acknowledge(kind, extra=None):
        ack = {"id": str(uuid.uuid4()), "referralId": document["id"], "type": kind, "createdAt": now(), **(extra or {})}
        ack_jws, ack_payload = sign_document(ack, recipient.signing, "trm-ack+json")
        status, result = recipient.call("POST", f"/v1/referrals/{document['id']}/acknowledgements", {"jws": ack_jws})
        verify_receipt(result["receipt"], hub_jwks, ack_payload, {
            "acknowledgementId": ack["id"], "referralId": document["id"], "author": recipient.id,
        })
        return status, result, ack_jws

    status, result, _ = acknowledge("received")
    check(status == 201 and result["status"] == "received", "received: the receipt checks, the referral is received")
    sender_enc = next(k for k in recipient.agency_jwks(sender.id)["keys"] if k["use"] == "enc")
    note = {"note": "Invented: a shelter place is ready."}
    status, result, accepted_jws = acknowledge("accepted", {"sensitive": encrypt_sensitive(note, sender_enc)})
    check(status == 201 and result["status"] == "accepted", "accepted, with details encrypted to the sender")

    if webhooks:
        acks = []
        for _ in range(2):
            headers, body = webhooks.next_of("acknowledgement")
            acks.append(holds(lambda: verify_webhook(body, headers["trm-signature"], hub_jwks)))
        check([m and m["type"] for m in acks] == ["acknowledgement", "acknowledgement"], "both acknowledgements came by webhook")
        # A webhook answered 2xx confirms its message: the inbox does not list it again, once the
        # hub has recorded the answer (just after the receiver answered it; waited for, bounded).
        ids = {m["id"] for m in acks if m}
        deadline = time.monotonic() + 15
        while True:
            listed = sender.inbox()["items"]
            confirmed = not any(i["id"] in ids for i in listed)
            if confirmed or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check(confirmed, "and the webhook confirmed them")
    else:
        page = until(lambda: sender.inbox(wait=5), lambda p: sum(i["type"] == "acknowledgement" for i in p["items"]) >= 2)
        acks = [i for i in page["items"] if i["type"] == "acknowledgement"]
        check(len(acks) == 2, "both acknowledgements are in the sender's inbox")
        check(sender.confirm(page["items"][-1]["cursor"]) >= 2, "the sender confirms its inbox")
    recipient_jwks = sender.agency_jwks(recipient.id)
    _, accepted = verify_jws(acks[-1]["jws"], recipient_jwks, ("ES256", "EdDSA"), "trm-ack+json")
    check(acks[-1]["jws"] == accepted_jws, "the acknowledgement as the recipient signed it")
    check(decrypt_sensitive(json.loads(accepted)["sensitive"], sender.encryption) == note, "the sender opens its details")
    _, view = sender.call("GET", f"/v1/referrals/{document['id']}")
    check(view["status"] == "accepted" and len(view["acknowledgements"]) == 2, "the referral reads accepted")

    # The audit trail
    trail = until(
        lambda: sender.call("GET", f"/v1/referrals/{document['id']}/audit")[1],
        lambda t: t["pending"] == 0 and t["checkpoint"] is not None,
    )
    check(trail["pending"] == 0 and trail["checkpoint"], "the referral's audit trail is sealed")
    events = trail["events"]
    checkpoint = trail["checkpoint"]
    check(all(audit_leaf_hash(e) == base64.b64decode(e["leafHash"]) for e in events),
          f"each of its {len(events)} events recomputes to its leaf hash")
    root = base64.b64decode(checkpoint["rootHash"])
    check(all(verify_inclusion(audit_leaf_hash(e), e["index"], checkpoint["size"],
                               [base64.b64decode(h) for h in e["proof"]], root) for e in events),
          "each is in the tree of the checkpoint (inclusion proof)")
    check(verify_checkpoint_note(checkpoint, hub_jwks), "the checkpoint is signed by the hub")

    print(f"{checks} checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (HubError, ProtocolError) as error:
        print(f"not ok {checks + 1} - {error}", flush=True)
        sys.exit(1)
