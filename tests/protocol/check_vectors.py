#!/usr/bin/env python3
"""A second implementation of Kith's signing rules, written from PROTOCOL.md alone.

It reads every ```json test-vector block of PROTOCOL.md (section 18), rebuilds the signed
bytes from the document's rules (canonical JSON, binary invite body, DHT address input), and
checks them against the vector: the canonical text, the Ed25519 signature (verified with the
key the peer ID names, and made again from the seed: Ed25519 signatures are deterministic),
the invite link and the invite proof. The Rust unit tests check the same vectors against the
code, so the document, this script and the code agree, or one of them fails.

Needs Python 3.9+ and `cryptography` (tests/protocol/setup.sh installs it).
Usage: python3 tests/protocol/check_vectors.py [PROTOCOL.md]
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# --- Canonical JSON (PROTOCOL.md 18.2) --------------------------------------------------

SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                 "\f": "\\f", "\r": "\\r"}


def j_str(s):
    if not isinstance(s, str):
        raise ValueError(f"expected a string, got {s!r}")
    out = []
    for ch in s:
        if ch in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)  # DEL, C1 controls, U+2028, non-ASCII and "/" stay raw
    return '"' + "".join(out) + '"'


def j_int(n, bits):
    if type(n) is not int or not 0 <= n < 2**bits:
        raise ValueError(f"expected a u{bits}, got {n!r}")
    return str(n)


def j_bool(b):
    if type(b) is not bool:
        raise ValueError(f"expected true or false, got {b!r}")
    return "true" if b else "false"


# Field kinds: how a field is written, and what an absent (or null) field means.
def req(enc):
    return ("required", enc)


def opt(enc):  # left out when absent or null
    return ("omit", enc)


def dflt(enc, default):  # written always; absent reads as the default (null is refused)
    return ("default", enc, default)


PEER = j_str  # peer IDs are written in lowercase (parse_peer_id checks them)
U64 = lambda n: j_int(n, 64)  # noqa: E731
U32 = lambda n: j_int(n, 32)  # noqa: E731


def j_list(enc):
    return lambda xs: "[" + ",".join(enc(x) for x in xs) + "]"


def j_object(fields):
    def enc(obj):
        parts = []
        for name, kind in fields:
            present = name in obj and obj[name] is not None
            if kind[0] == "required":
                if not present:
                    raise ValueError(f"missing field {name}")
                value = obj[name]
            elif kind[0] == "omit":
                if not present:
                    continue
                value = obj[name]
            else:
                if name in obj and obj[name] is None:
                    raise ValueError(f"{name} may be absent but not null")
                value = obj.get(name, kind[2])
            parts.append(j_str(name) + ":" + kind[1](value))
        return "{" + ",".join(parts) + "}"  # unknown fields are dropped
    return enc


def lower_peer(s):
    return j_str(s.strip().lower())


ITEM = j_object([
    ("id", req(j_str)), ("name", req(j_str)), ("size", req(U64)), ("kind", opt(j_str)),
    ("w", opt(U32)), ("h", opt(U32)), ("taken", opt(U64)), ("duration_ms", opt(U64)),
    ("thumb", opt(j_str)),
])
ALBUM = j_object([
    ("id", req(j_str)), ("owner", req(lower_peer)), ("version", req(U64)),
    ("title", req(j_str)), ("created", req(U64)), ("items", req(j_list(ITEM))),
    ("audience", req(j_list(lower_peer))), ("deleted", dflt(j_bool, False)),
    ("link", opt(j_str)),
])
COMMENT = j_object([
    ("id", req(j_str)), ("album", req(j_str)), ("item", opt(j_str)),
    ("author", req(lower_peer)), ("at", req(U64)), ("v", req(U32)), ("edited", opt(U64)),
    ("text", dflt(j_str, "")), ("reaction", opt(j_str)), ("deleted", dflt(j_bool, False)),
])

# --- Peer IDs (PROTOCOL.md 19.1) --------------------------------------------------------

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def luhn32(body):
    factor, total = 2, 0
    for c in reversed(body):
        addend = factor * ALPHABET.index(c)
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return ALPHABET[(32 - total % 32) % 32]


def peer_id(key):
    body = base64.b32encode(key).decode().rstrip("=").lower()
    return body + luhn32(body)


def parse_peer_id(text):
    s = text.strip().lower()
    if len(s) != 53 or any(c not in ALPHABET for c in s) or luhn32(s[:52]) != s[52]:
        raise ValueError(f"not a peer ID: {text!r}")
    key = base64.b32decode(s[:52].upper() + "====")
    assert len(key) == 32
    return key


# --- Addresses as the DHT record signs them (PROTOCOL.md 18.2) --------------------------


def address(text):
    host, _, port = text.rpartition(":")
    port = int(port)
    if host.startswith("["):
        host, _, scope = host[1:-1].partition("%")
        ip = ipaddress.IPv6Address(host)
        if ip.ipv4_mapped is not None:
            shown = "::ffff:" + str(ip.ipv4_mapped)
        else:
            shown = ip.compressed  # RFC 5952: lowercase, longest zero run (first if tied) as ::
        return f"[{shown}{'%' + scope if scope else ''}]:{port}"
    return f"{ipaddress.IPv4Address(host)}:{port}"


# --- Keys -------------------------------------------------------------------------------


def key_of(seed_hex):
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return sk, pk


def b64_nopad(b):
    return base64.b64encode(b).decode().rstrip("=")


def b64_decode_nopad(s):
    if "=" in s:
        raise ValueError("padding is not allowed")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def check_signed(v, prefix, encode, who):
    """A signed album or comment: canonical text, signer's key, signature."""
    body_key = {b"kith album v1\0": "album", b"kith comment v1\0": "comment"}[prefix]
    wire = v["input"]
    canonical = encode(wire[body_key])
    assert canonical == v["canonical"], f"canonical JSON differs:\n{canonical}\n{v['canonical']}"
    sk, pk = key_of(v["seed"])
    assert parse_peer_id(wire[body_key][who]) == pk, f"{who} is not the seed's key"
    msg = prefix + canonical.encode("utf-8")
    Ed25519PublicKey.from_public_bytes(pk).verify(b64_decode_nopad(wire["sig"]), msg)
    assert b64_nopad(sk.sign(msg)) == wire["sig"], "signing again gives another signature"
    return wire[body_key]


def check_album(v):
    check_signed(v, b"kith album v1\0", ALBUM, "owner")


def check_comment(v):
    c = check_signed(v, b"kith comment v1\0", COMMENT, "author")
    if c.get("reaction") is not None:
        m = b"kith reaction v1\0"
        for part in (c["album"], c.get("item") or "", c["reaction"]):
            m += part.encode("utf-8") + b"\0"
        m += parse_peer_id(c["author"])
        assert hashlib.sha256(m).hexdigest()[:32] == c["id"], "reaction ID is not derived"


def check_dht_addrs(v):
    sk, pk = key_of(v["seed"])
    assert peer_id(pk) == v["peer"]
    canonical = "[" + ",".join(j_str(address(a)) for a in v["addrs"]) + "]"
    assert canonical == v["canonical"], f"addresses differ:\n{canonical}\n{v['canonical']}"
    msg = b"kith dht addrs v1\0" + pk + v["at"].to_bytes(8, "big") + canonical.encode()
    Ed25519PublicKey.from_public_bytes(pk).verify(b64_decode_nopad(v["sig"]), msg)
    assert b64_nopad(sk.sign(msg)) == v["sig"]


def invite_body(v, pk):
    name = v["name"].encode("utf-8")
    body = bytes([2 if v.get("lookup") else 1]) + pk + bytes.fromhex(v["invite_id"])
    body += bytes.fromhex(v["secret"]) + v["exp"].to_bytes(8, "big")
    body += bytes([len(name)]) + name + bytes([len(v["addrs"])])
    for a in v["addrs"]:
        host, _, port = a.rpartition(":")
        ip = ipaddress.ip_address(host.strip("[]"))
        body += bytes([ip.version]) + ip.packed + int(port).to_bytes(2, "big")
    if v.get("lookup"):
        body += bytes.fromhex(v["lookup"])
    return body


def check_invite(v):
    sk, pk = key_of(v["seed"])
    assert peer_id(pk) == v["peer"]
    body = invite_body(v, pk)
    link = v["link"]
    assert link.startswith("kith://invite/")
    data = link[len("kith://invite/"):]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    assert raw[:-64] == body, "the link's body is not the one the rules build"
    msg = b"kith invite v1\0" + body
    Ed25519PublicKey.from_public_bytes(pk).verify(raw[-64:], msg)
    made = "kith://invite/" + base64.urlsafe_b64encode(body + sk.sign(msg)).decode().rstrip("=")
    assert made == link


def check_invite_proof(v):
    acceptor = parse_peer_id(v["acceptor"])
    tag = hmac.new(bytes.fromhex(v["secret"]), b"kith invite proof v1\0" + acceptor,
                   hashlib.sha256).digest()
    assert (bytes.fromhex(v["invite_id"]) + tag).hex() == v["proof"]


def safety_half(key):
    h = b"kith safety number v2"
    for _ in range(5200):
        h = hashlib.sha512(h + key).digest()
    return "".join("%05d" % (int.from_bytes(h[5 * i:5 * i + 5], "big") % 100000) for i in range(6))


def check_safety_number(v):
    lo, hi = sorted([parse_peer_id(v["a"]), parse_peer_id(v["b"])])
    digits = safety_half(lo) + safety_half(hi)
    assert " ".join(digits[5 * i:5 * i + 5] for i in range(12)) == v["safety_number"], "safety number differs"


def check_album_id(v):
    _, pk = key_of(v["seed"])
    tag = hashlib.sha256(b"kith album owner\0" + pk).digest()[:10]
    assert tag.hex() == v["owner_tag"], "owner tag differs"
    assert len(v["id"]) == 40 and v["id"].startswith(v["owner_tag"]), "the ID does not carry the tag"


CHECKS = {"album": check_album, "album_id": check_album_id, "comment": check_comment, "dht_addrs": check_dht_addrs,
          "invite": check_invite, "invite_proof": check_invite_proof,
          "safety_number": check_safety_number}


def vectors(text):
    return [json.loads(b) for b in re.findall(r"^```json test-vector\n(.*?)^```$", text,
                                              flags=re.M | re.S)]


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[2] / "PROTOCOL.md")
    found = vectors(path.read_text(encoding="utf-8"))
    seen = set()
    for v in found:
        CHECKS[v["vector"]](v)
        seen.add(v["vector"])
        print(f"ok  {v['vector']}: {v.get('about', '')}")
    missing = set(CHECKS) - seen
    if missing:
        sys.exit(f"no test vector for: {', '.join(sorted(missing))}")
    print(f"{len(found)} test vectors of {path.name} check out")


if __name__ == "__main__":
    main()
