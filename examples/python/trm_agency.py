"""An agency's side of the TRM Hub protocol, in Python, from docs/protocol.md alone.

Uses Debian's python3-jwcrypto and python3-requests (apt-get install python3-jwcrypto
python3-requests) and the standard library. Every function names the section of
docs/protocol.md it follows. Run `python3 trm_agency.py keys --out DIR` to make an agency's keys;
demo.py runs a whole exchange between two agencies.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import uuid

import requests
from jwcrypto import jwe, jwk, jws

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SENSITIVE_CTY = "application/json"


class ProtocolError(Exception):
    """Something the hub sent does not hold: a signature, a digest, a member."""


class HubError(Exception):
    """A 4xx or 5xx answer, with its RFC 9457 problem document."""

    def __init__(self, status, problem):
        super().__init__(f"{status} {problem.get('code', '')}: {problem.get('detail', problem)}")
        self.status = status
        self.problem = problem


# --- Conventions -----------------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_part(compact, index):
    """The base64url-decoded bytes of one part of a compact JWS or JWE."""
    return b64url_decode(compact.split(".")[index])


def sha256_b64url(data):
    return b64url(hashlib.sha256(data).digest())


# --- Keys and the directory --------------------------------------------------------------------


def generate_keys(out_dir, alg="ES256"):
    """Writes signing.private.jwk.json, encryption.private.jwk.json and public.jwks.json (the
    files `trm keys generate` writes). Only public.jwks.json goes to the hub operator."""
    if alg == "ES256":
        signing = jwk.JWK.generate(kty="EC", crv="P-256")
    elif alg == "EdDSA":
        signing = jwk.JWK.generate(kty="OKP", crv="Ed25519")
    else:
        raise ValueError("alg must be ES256 or EdDSA")
    encryption = jwk.JWK.generate(kty="EC", crv="P-256")
    keys = []
    for key, use, key_alg in ((signing, "sig", alg), (encryption, "enc", "ECDH-ES+A256KW")):
        private = json.loads(key.export_private())
        private.update(kid=f"{use}-{key.thumbprint()[:16]}", use=use, alg=key_alg)
        keys.append(private)
    os.makedirs(out_dir, exist_ok=True)
    for name, private in zip(("signing", "encryption"), keys):
        path = os.path.join(out_dir, f"{name}.private.jwk.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(private, f, indent=2)
    public = {"keys": [{k: v for k, v in key.items() if k != "d"} for key in keys]}
    with open(os.path.join(out_dir, "public.jwks.json"), "w") as f:
        json.dump(public, f, indent=2)
    return public


def load_private_jwk(path):
    with open(path) as f:
        return json.load(f)


def jwks_key(jwks, kid, use):
    """The key of a JWKS with this kid and use, as a jwcrypto key; revoked keys are kept in the
    directory so old signatures stay checkable (docs/protocol.md, Keys and the directory)."""
    for key in jwks["keys"]:
        if key.get("kid") == kid and key.get("use") == use:
            public = {k: key[k] for k in ("kty", "crv", "x", "y", "kid", "use", "alg") if k in key}
            return jwk.JWK(**public)
    raise ProtocolError(f"no {use} key {kid} in the JWKS")


# --- Signed documents --------------------------------------------------------------------------


def sign_document(document, private_jwk, typ):
    """A compact JWS of the document (docs/protocol.md, Signed documents). Returns the JWS and
    the payload bytes that were signed: keep them, a replay must repeat them exactly."""
    payload = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    signer = jws.JWS(payload)
    header = {"alg": private_jwk["alg"], "kid": private_jwk["kid"], "typ": typ}
    signer.add_signature(jwk.JWK(**private_jwk), alg=private_jwk["alg"], protected=json.dumps(header))
    return signer.serialize(compact=True), payload


def verify_jws(compact, jwks, algs, typ=None):
    """Verifies a compact JWS with the key its header names in `jwks`; returns (header, payload bytes)."""
    header = json.loads(compact_part(compact, 0))
    if header.get("alg") not in algs:
        raise ProtocolError(f"unexpected alg {header.get('alg')}")
    if typ is not None and header.get("typ") != typ:
        raise ProtocolError(f"typ is {header.get('typ')}, not {typ}")
    if "crit" in header or "b64" in header:
        raise ProtocolError("crit and b64 are not accepted")
    token = jws.JWS()
    token.allowed_algs = list(algs)
    token.deserialize(compact)
    token.verify(jwks_key(jwks, header.get("kid"), "sig"), alg=header["alg"])
    return header, token.payload


# --- The sensitive member ----------------------------------------------------------------------


def encrypt_sensitive(details, recipient_enc_jwk):
    """A compact JWE of the SensitiveDetails object to the recipient's enc key: ECDH-ES+A256KW,
    A256GCM, kid and cty application/json in the protected header (docs/protocol.md, The
    sensitive member). Validate `details` against SensitiveDetails before calling this."""
    plaintext = json.dumps(details, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    header = {
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "kid": recipient_enc_jwk["kid"],
        "cty": SENSITIVE_CTY,
    }
    token = jwe.JWE(plaintext, protected=json.dumps(header))
    public = {k: recipient_enc_jwk[k] for k in ("kty", "crv", "x", "y") if k in recipient_enc_jwk}
    token.add_recipient(jwk.JWK(**public))
    return token.serialize(compact=True)


def decrypt_sensitive(compact, private_enc_jwk):
    """Opens a sensitive JWE with our own enc key; returns the details (a dict)."""
    header = json.loads(compact_part(compact, 0))
    if header.get("alg") != "ECDH-ES+A256KW" or header.get("enc") != "A256GCM":
        raise ProtocolError("sensitive must be ECDH-ES+A256KW with A256GCM")
    if str(header.get("cty", "")).lower() not in (SENSITIVE_CTY, "json"):
        raise ProtocolError(f"sensitive cty is {header.get('cty')}")
    if header.get("kid") != private_enc_jwk["kid"]:
        raise ProtocolError("sensitive is addressed to another key")
    token = jwe.JWE()
    token.allowed_algs = ["ECDH-ES+A256KW", "A256GCM"]
    token.deserialize(compact, key=jwk.JWK(**private_enc_jwk))
    details = json.loads(token.payload.decode("utf-8"))
    if not isinstance(details, dict):
        raise ProtocolError("the sensitive plaintext is not a JSON object")
    return details


# --- Receipts, webhooks, audit -----------------------------------------------------------------


def verify_receipt(receipt, hub_jwks, payload_bytes, expected):
    """Checks a hub receipt (docs/protocol.md, The receipt): the hub's signature, its typ, the
    digest of the payload bytes we signed, and the members we know. Returns its claims."""
    _, payload = verify_jws(receipt, hub_jwks, ("EdDSA",), "trm-receipt+json")
    claims = json.loads(payload)
    if claims.get("payloadSha256") != sha256_b64url(payload_bytes):
        raise ProtocolError("the receipt's payloadSha256 is not the digest of what we signed")
    for name, value in expected.items():
        if claims.get(name) != value:
            raise ProtocolError(f"the receipt says {name} = {claims.get(name)!r}, not {value!r}")
    return claims


EVIDENCE_MEMBERS = ["referralId", "event", "at", "recipient", "payloadSha256"]


def verify_evidence(evidence, hub_jwks, expected):
    """Checks hub-signed evidence (docs/protocol.md, Evidence): the hub's signature, its typ, its
    members in order, and those we know (the receipt's payloadSha256, the referral, the recipient).
    Returns its claims."""
    _, payload = verify_jws(evidence, hub_jwks, ("EdDSA",), "trm-evidence+jws")
    claims = json.loads(payload)
    if list(claims) != EVIDENCE_MEMBERS:
        raise ProtocolError(f"evidence members are {list(claims)!r}, not {EVIDENCE_MEMBERS!r}")
    for name, value in expected.items():
        if claims.get(name) != value:
            raise ProtocolError(f"the evidence says {name} = {claims.get(name)!r}, not {value!r}")
    return claims


def verify_webhook(body, signature, hub_jwks):
    """Checks a webhook request (docs/protocol.md, Webhooks): `trm-signature` is a JWS with detached
    content over the exact body bytes. Pass the raw body, before any parsing; returns the message."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] != "":
        raise ProtocolError("trm-signature is not a compact JWS with detached content")
    attached = f"{parts[0]}.{b64url(body)}.{parts[2]}"
    verify_jws(attached, hub_jwks, ("EdDSA",), "trm-webhook+jws")
    return json.loads(body)


def canonical_json(value):
    """RFC 8785 (JCS) for the values audit events hold: objects, arrays, strings, integers,
    booleans and null. Names sort by UTF-16 code units; strings escape as ECMAScript does."""
    if isinstance(value, dict):
        names = sorted(value, key=lambda name: name.encode("utf-16-be"))
        return "{" + ",".join(f"{canonical_json(n)}:{canonical_json(value[n])}" for n in names) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, float):
        raise ValueError("this JCS handles integers only (audit events hold no other numbers)")
    return json.dumps(value, ensure_ascii=False)


AUDIT_LEAF_MEMBERS = ("seq", "at", "actor", "action", "target", "referralId", "requestId", "outcome", "details")


def audit_leaf_hash(event):
    """leaf hash = SHA-256(0x00 ‖ JCS(the event's chained members)) (README, Checking the audit log yourself)."""
    chained = {k: event[k] for k in AUDIT_LEAF_MEMBERS}
    return hashlib.sha256(b"\x00" + canonical_json(chained).encode("utf-8")).digest()


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 §2.1.3.2: does `proof` (bytes hashes) put `leaf` at `index` in the tree of `size` with `root`?"""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_checkpoint_note(checkpoint, hub_jwks):
    """Checks a checkpoint's C2SP signed note: its text is origin, size and root hash, and one
    signature line of the origin's name verifies (Ed25519) with a hub key of the JWKS, key id = the
    first 4 bytes of SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public key)."""
    text, _, signatures = checkpoint["note"].partition("\n\n")
    text += "\n"
    if text.split("\n")[:3] != [checkpoint["origin"], str(checkpoint["size"]), checkpoint["rootHash"]]:
        raise ProtocolError("the checkpoint note does not say the checkpoint's origin, size and root")
    for line in signatures.splitlines():
        if not line.startswith(f"\u2014 {checkpoint['origin']} "):
            continue
        blob = base64.b64decode(line.rsplit(" ", 1)[1])
        for key in hub_jwks["keys"]:
            raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
            key_id = hashlib.sha256(checkpoint["origin"].encode("utf-8") + b"\n\x01" + raw).digest()[:4]
            if blob[:4] != key_id:
                continue
            try:
                jwk.JWK(**key).get_op_key("verify").verify(blob[4:], text.encode("utf-8"))
                return True
            except Exception:
                pass
    raise ProtocolError("no hub signature on the checkpoint note verifies")


# --- The agency's client -----------------------------------------------------------------------


class Agency:
    """One agency talking to the hub: its id, its private keys, its token (docs/protocol.md, Tokens)."""

    def __init__(self, hub_url, agency_id, keys_dir, timeout=40):
        self.hub_url = hub_url.rstrip("/")
        self.id = agency_id
        self.signing = load_private_jwk(os.path.join(keys_dir, "signing.private.jwk.json"))
        self.encryption = load_private_jwk(os.path.join(keys_dir, "encryption.private.jwk.json"))
        self.http = requests.Session()
        self.timeout = timeout
        self._token = None
        self._token_expires = 0.0
        self._metadata = None

    def metadata(self):
        if self._metadata is None:
            response = self.http.get(f"{self.hub_url}/.well-known/oauth-authorization-server", timeout=10)
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    def hub_jwks(self):
        response = self.http.get(f"{self.hub_url}/.well-known/jwks.json", timeout=10)
        response.raise_for_status()
        return response.json()

    def client_assertion(self, audience=None, lifetime=60):
        """RFC 7523: iss = sub = our id, aud = the published token endpoint, a fresh jti."""
        now = int(time.time())
        claims = {
            "iss": self.id,
            "sub": self.id,
            "aud": audience or self.metadata()["token_endpoint"],
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": self.signing["alg"], "kid": self.signing["kid"], "typ": "JWT"}
        signer = jws.JWS(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        signer.add_signature(jwk.JWK(**self.signing), alg=self.signing["alg"], protected=json.dumps(header))
        return signer.serialize(compact=True)

    def token(self):
        """A valid access token, fetched again a minute before the current one expires."""
        if self._token and self._token_expires - 60 > time.time():
            return self._token
        response = self.http.post(
            f"{self.hub_url}/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion(),
            },
            timeout=10,
        )
        body = response.json()
        if response.status_code != 200:
            raise HubError(response.status_code, body)
        self._token = body["access_token"]
        self._token_expires = time.time() + body["expires_in"]
        return self._token

    def call(self, method, path, body=None, expect=(200, 201), params=None):
        """Calls the API with our token; returns (status, parsed body). A status outside `expect`
        raises HubError with the problem document."""
        response = self.http.request(
            method,
            f"{self.hub_url}{path}",
            headers={"authorization": f"Bearer {self.token()}"},
            json=body,
            params=params,
            timeout=self.timeout,
        )
        parsed = response.json() if response.content else None
        if response.status_code not in expect:
            raise HubError(response.status_code, parsed or {})
        return response.status_code, parsed

    def agency(self, agency_id):
        return self.call("GET", f"/v1/agencies/{agency_id}")[1]

    def agency_jwks(self, agency_id):
        return self.call("GET", f"/v1/agencies/{agency_id}/jwks.json")[1]

    def inbox(self, wait=0, after=None):
        params = {"wait": wait}
        if after:
            params["after"] = after
        return self.call("GET", "/v1/inbox", params=params)[1]

    def confirm(self, cursor):
        return self.call("POST", "/v1/inbox/confirm", {"through": cursor})[1]["confirmed"]


def main():
    parser = argparse.ArgumentParser(description="An agency's keys for TRM Hub")
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("keys", help="generate an agency's keys")
    keys.add_argument("--out", required=True, help="a directory outside any repository")
    keys.add_argument("--alg", default="ES256", choices=("ES256", "EdDSA"))
    args = parser.parse_args()
    if args.command == "keys":
        public = generate_keys(args.out, args.alg)
        print(json.dumps(public, indent=2))


if __name__ == "__main__":
    sys.exit(main())
