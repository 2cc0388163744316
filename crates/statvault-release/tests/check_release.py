"""An independent check of a signed release, written from the specifications alone
(minisign's file formats, C2SP signed notes and checkpoints, RFC 6962/9162, RFC 5545),
with the `cryptography`, `icalendar` and standard-library hashes. Usage:

    check_release.py RELEASES_DIR BUNDLE_NAME [VERIFIER_FILE [OLD_SIZE PROOF_FILE]...]

With VERIFIER_FILE (a site's /log/verifier), also checks that the C2SP note verifier
key is the release key's; with OLD_SIZE PROOF_FILE pairs (a site's
/log/consistency/OLD_SIZE, one base64 hash per line), checks each consistency proof
from the log's first OLD_SIZE entries to its checkpoint (RFC 9162 section 2.1.4.2).
Prints one "<check>: ok" line per check; exits non-zero on the first failure.
"""

import base64
import hashlib
import json
import pathlib
import sys

import icalendar
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

releases = pathlib.Path(sys.argv[1])
bundle = releases / sys.argv[2]
log = releases / "log"

# minisign public key: "Ed" || key id (8) || Ed25519 key (32)
raw = base64.b64decode((log / "key.pub").read_text().splitlines()[1])
assert raw[:2] == b"Ed", raw[:2]
key_id, public = raw[2:10], Ed25519PublicKey.from_public_bytes(raw[10:])

# manifest.json.minisig: "ED" prehashed with BLAKE2b-512, then the global signature
manifest = (bundle / "manifest.json").read_bytes()
lines = (bundle / "manifest.json.minisig").read_text().splitlines()
sig = base64.b64decode(lines[1])
assert sig[:2] == b"ED" and sig[2:10] == key_id
public.verify(sig[10:], hashlib.blake2b(manifest, digest_size=64).digest())
trusted = lines[2].removeprefix("trusted comment: ")
public.verify(base64.b64decode(lines[3]), sig[10:] + trusted.encode())
doc = json.loads(manifest)
assert f"release:{doc['release']} version:{doc['version']}" in trusted, trusted
print("minisign signature: ok")

for f in doc["files"]:
    data = (bundle / f["path"]).read_bytes()
    assert len(data) == f["size"] and hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
print(f"file hashes ({len(doc['files'])}): ok")


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_hash(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(tree_hash(leaves[:k]), tree_hash(leaves[k:]))


def checkpoint(note):
    """C2SP signed note: body, blank line, "— name base64(keyhash4 || sig)" lines."""
    body, signatures = note.split("\n\n", 1)
    body += "\n"
    origin, size, root = body.splitlines()[:3]
    key_hash = hashlib.sha256(origin.encode() + b"\n\x01" + raw[10:]).digest()[:4]
    for line in signatures.splitlines():
        name, encoded = line.removeprefix("\u2014 ").split(" ")
        blob = base64.b64decode(encoded)
        if name == origin and blob[:4] == key_hash:
            public.verify(blob[4:], body.encode())
            return int(size), base64.b64decode(root)
    raise AssertionError("no signature by the release key")


entries = (log / "entries.jsonl").read_bytes().split(b"\n")[:-1]
size, root = checkpoint((log / "checkpoint").read_text())
assert size == len(entries) and tree_hash([leaf(e) for e in entries]) == root
print(f"log checkpoint ({size} entries): ok")

# The bundle's inclusion proof, by RFC 9162 section 2.1.3.2.
proof = json.loads((bundle / "transparency.json").read_text())
tree_size, proof_root = checkpoint(proof["checkpoint"])
index, r = proof["index"], leaf(proof["entry"].encode())
fn, sn = index, tree_size - 1
for p in map(bytes.fromhex, proof["inclusion"]):
    if fn & 1 or fn == sn:
        r = node(p, r)
        while not fn & 1 and fn:
            fn, sn = fn >> 1, sn >> 1
    else:
        r = node(r, p)
    fn, sn = fn >> 1, sn >> 1
assert sn == 0 and r == proof_root
entry = json.loads(proof["entry"])
assert entry["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
assert tree_hash([leaf(e) for e in entries[:tree_size]]) == proof_root
print("inclusion proof: ok")



def consistent(first, second, first_hash, second_hash, proof):
    """RFC 9162 section 2.1.4.2."""
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0 or first > second or not proof and first & (first - 1):
        return False
    if first & (first - 1) == 0:
        proof = [first_hash] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_hash and sr == second_hash


if len(sys.argv) > 3:
    origin = (log / "checkpoint").read_text().splitlines()[0]
    key_hash = hashlib.sha256(origin.encode() + b"\n\x01" + raw[10:]).hexdigest()[:8]
    expected = f"{origin}+{key_hash}+" + base64.b64encode(b"\x01" + raw[10:]).decode()
    assert pathlib.Path(sys.argv[3]).read_text().strip() == expected, expected
    print("note verifier key: ok")
    for old, path in zip(sys.argv[4::2], sys.argv[5::2]):
        old = int(old)
        hashes = [base64.b64decode(l) for l in pathlib.Path(path).read_text().split()]
        old_root = tree_hash([leaf(e) for e in entries[:old]])
        assert consistent(old, size, old_root, root, hashes), f"consistency from {old}"
    print(f"consistency proofs ({len(sys.argv[4:]) // 2}): ok")

calendar = icalendar.Calendar.from_ical((releases / "calendar.ics").read_bytes())
events = [c for c in calendar.walk("VEVENT")]
ours = [e for e in events if str(e["UID"]) == f"{doc['release']}@statvault"]
assert len(ours) == 1, events
assert ours[0]["DTSTART"].dt.strftime("%Y-%m-%dT%H:%M:%SZ") == doc["release_time"]
# RFC 5546 3.2.1: a PUBLISH message's events each name their ORGANIZER.
if calendar.get("METHOD") == "PUBLISH":
    for event in events:
        assert str(event.get("ORGANIZER", "")).startswith("mailto:"), event
print(f"icalendar ({len(events)} events): ok")
