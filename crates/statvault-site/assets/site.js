// statvault: checks a release in the browser. The release page names the bundle and
// the office's public key (minisign format); this fetches manifest.json and its
// signature, checks the Ed25519 signature over BLAKE2b-512(manifest) and the global
// signature over the trusted comment (WebCrypto), then every file's SHA-256, and says
// "verified: signed by <key id>" or what is wrong.
"use strict";

// BLAKE2b-512 (RFC 7693), unkeyed, with 64-bit BigInt words.
const BLAKE2B_IV = [
  0x6a09e667f3bcc908n, 0xbb67ae8584caa73bn, 0x3c6ef372fe94f82bn, 0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n, 0x9b05688c2b3e6c1fn, 0x1f83d9abfb41bd6bn, 0x5be0cd19137e2179n,
];
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];
const MASK = (1n << 64n) - 1n;
const rotr = (x, n) => ((x >> n) | (x << (64n - n))) & MASK;

function blake2b512(data) {
  const h = BLAKE2B_IV.slice();
  h[0] ^= 0x01010000n ^ 64n;
  const block = new Uint8Array(128);
  const view = new DataView(block.buffer);
  let t = 0n;
  const compress = (last) => {
    const m = [];
    for (let i = 0; i < 16; i++) m.push(view.getBigUint64(i * 8, true));
    const v = h.concat(BLAKE2B_IV);
    v[12] ^= t & MASK;
    v[13] ^= t >> 64n;
    if (last) v[14] ^= MASK;
    const g = (a, b, c, d, x, y) => {
      v[a] = (v[a] + v[b] + x) & MASK; v[d] = rotr(v[d] ^ v[a], 32n);
      v[c] = (v[c] + v[d]) & MASK; v[b] = rotr(v[b] ^ v[c], 24n);
      v[a] = (v[a] + v[b] + y) & MASK; v[d] = rotr(v[d] ^ v[a], 16n);
      v[c] = (v[c] + v[d]) & MASK; v[b] = rotr(v[b] ^ v[c], 63n);
    };
    for (let r = 0; r < 12; r++) {
      const s = SIGMA[r % 10];
      g(0, 4, 8, 12, m[s[0]], m[s[1]]); g(1, 5, 9, 13, m[s[2]], m[s[3]]);
      g(2, 6, 10, 14, m[s[4]], m[s[5]]); g(3, 7, 11, 15, m[s[6]], m[s[7]]);
      g(0, 5, 10, 15, m[s[8]], m[s[9]]); g(1, 6, 11, 12, m[s[10]], m[s[11]]);
      g(2, 7, 8, 13, m[s[12]], m[s[13]]); g(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (let i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
  };
  let filled = 0;
  for (let i = 0; i < data.length; i++) {
    if (filled === 128) { t += 128n; compress(false); block.fill(0); filled = 0; }
    block[filled++] = data[i];
  }
  t += BigInt(filled);
  block.fill(0, filled);
  compress(true);
  const out = new Uint8Array(64);
  const outView = new DataView(out.buffer);
  h.forEach((word, i) => outView.setBigUint64(i * 8, word, true));
  return out;
}

const fromBase64 = (text) => Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
const toHex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
const keyIdHex = (id) => toHex(id.slice().reverse()).toUpperCase();

async function fetchBytes(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function verifyRelease(box) {
  const say = (text, ok) => {
    box.textContent = text;
    box.className = ok ? "check verified" : "check warning";
  };
  const bundle = box.dataset.bundle;
  const words = JSON.parse(box.dataset.words);
  try {
    const raw = fromBase64(box.dataset.key);
    const keyId = raw.slice(2, 10);
    const key = await crypto.subtle.importKey("raw", raw.slice(10), { name: "Ed25519" }, false, ["verify"]);
    const manifestBytes = await fetchBytes(`${bundle}manifest.json`);
    const lines = new TextDecoder().decode(await fetchBytes(`${bundle}manifest.json.minisig`)).split("\n");
    const sig = fromBase64(lines[1]);
    if (sig[0] !== 0x45 || sig[1] !== 0x44) throw new Error(words.not_prehashed);
    if (toHex(sig.slice(2, 10)) !== toHex(keyId)) throw new Error(`${words.other_key} ${keyIdHex(sig.slice(2, 10))}`);
    const ok = await crypto.subtle.verify("Ed25519", key, sig.slice(10), blake2b512(manifestBytes));
    const comment = new TextEncoder().encode(lines[2].replace(/^trusted comment: /, ""));
    const both = new Uint8Array(64 + comment.length);
    both.set(sig.slice(10)); both.set(comment, 64);
    const okComment = await crypto.subtle.verify("Ed25519", key, fromBase64(lines[3]), both);
    if (!ok || !okComment) throw new Error(words.bad_signature);
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    const bad = [];
    for (const file of manifest.files) {
      const digest = await crypto.subtle.digest("SHA-256", await fetchBytes(`${bundle}${file.path}`));
      if (toHex(digest) !== file.sha256) bad.push(file.path);
    }
    if (bad.length) throw new Error(`${words.changed}: ${bad.join(", ")}`);
    say(`${words.verified} ${keyIdHex(keyId)} · ${manifest.files.length} ${words.files}. ${words.caveat}`, true);
  } catch (e) {
    say(`${words.warning}: ${e.message}`, false);
  }
}

for (const box of document.querySelectorAll("[data-bundle][data-key]")) verifyRelease(box);
