// statvault: checks a release in the browser, and makes the selection form easier.
//
// The check: the release page names the bundle and the office's public key (minisign
// format). On every visit this fetches only manifest.json and its signature (a few KB)
// and checks the Ed25519 signature over BLAKE2b-512(manifest) and the global signature
// over the trusted comment (WebCrypto). A file the reader downloads from the page is
// hashed before it is saved and refused if it does not match the manifest; "check
// every file" hashes the whole bundle, with progress. A browser whose WebCrypto lacks
// Ed25519 is told so and pointed to minisign: it never shows a false warning.
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
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// The key, or null where WebCrypto has no Ed25519 (Firefox < 129, Safari < 17, Chrome < 137).
async function importKey(raw) {
  try {
    return await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  } catch (e) {
    return null;
  }
}

const sha256Hex = async (bytes) => toHex(await crypto.subtle.digest("SHA-256", bytes));

async function verifyRelease(box) {
  const say = (text, state) => {
    box.querySelector(".verdict").textContent = text;
    box.className = `check ${state}`;
  };
  const bundle = box.dataset.bundle;
  const words = JSON.parse(box.dataset.words);
  let manifest = null;
  try {
    const raw = fromBase64(box.dataset.key);
    const keyId = raw.slice(2, 10);
    const key = await importKey(raw.slice(10));
    if (!key) {
      say(words.unsupported, "unsupported");
      return;
    }
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
    manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    const total = manifest.files.reduce((sum, f) => sum + (f.size || 0), 0);
    say(`${words.verified} ${keyIdHex(keyId)} · ${manifest.files.length} ${words.listed}. ${words.caveat}`, "verified");
    offerFullCheck(box, bundle, manifest, words, say, total);
    checkDownloads(bundle, manifest, words, say);
  } catch (e) {
    say(`${words.warning}: ${e.message}`, "warning");
  }
}

// The button that hashes every file of the bundle, with progress.
function offerFullCheck(box, bundle, manifest, words, say, total) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = `${words.check_all} (${(total / 1e6).toFixed(1)} MB)`;
  const progress = document.createElement("progress");
  progress.max = manifest.files.length;
  progress.value = 0;
  progress.hidden = true;
  button.addEventListener("click", async () => {
    button.disabled = true;
    progress.hidden = false;
    const bad = [];
    for (const file of manifest.files) {
      try {
        if (await sha256Hex(await fetchBytes(`${bundle}${file.path}`)) !== file.sha256) bad.push(file.path);
      } catch (e) {
        bad.push(file.path);
      }
      progress.value += 1;
    }
    progress.hidden = true;
    if (bad.length) say(`${words.warning}: ${words.changed}: ${bad.join(", ")}`, "warning");
    else say(`${words.all_ok} (${manifest.files.length} ${words.files}). ${words.caveat}`, "verified");
  });
  box.append(" ", button, " ", progress);
}

// Links to the bundle's files: fetched, hashed against the manifest, and saved only
// if they match.
function checkDownloads(bundle, manifest, words, say) {
  const byPath = new Map(manifest.files.map((f) => [f.path, f]));
  for (const link of document.querySelectorAll(`a[href^="${bundle}"]`)) {
    const file = byPath.get(link.getAttribute("href").slice(bundle.length));
    if (!file) continue;
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      let bytes;
      try {
        bytes = await fetchBytes(link.href);
      } catch (e) {
        say(`${words.warning}: ${file.path}: ${e.message}`, "warning");
        return;
      }
      if (await sha256Hex(bytes) !== file.sha256) {
        say(`${words.warning}: ${words.changed}: ${file.path}`, "warning");
        return;
      }
      const save = document.createElement("a");
      save.href = URL.createObjectURL(new Blob([bytes]));
      save.download = file.path.split("/").pop();
      document.body.append(save);
      save.click();
      save.remove();
      say(`${words.download_ok}: ${file.path}`, "verified");
    });
  }
}

// The selection form: a filter box, "all" and "none" for each long list, the number
// of cells chosen, and a compact address (a list fully chosen or left empty is sent
// as nothing, which means every category).
function enhanceSelection(form) {
  const words = JSON.parse(form.dataset.words);
  const lists = Array.from(form.querySelectorAll("select[data-dimension]"));
  const count = document.createElement("output");
  count.setAttribute("aria-live", "polite");
  const codes = (list) => Array.from(list.options).filter((o) => !/^[A-Z]+\(/.test(o.value));
  const update = () => {
    let cells = 1;
    for (const list of lists) {
      const chosen = Array.from(list.selectedOptions).reduce((sum, o) => sum + Number(o.dataset.cells || 1), 0);
      cells *= chosen || codes(list).length;
    }
    count.value = `${cells.toLocaleString(document.documentElement.lang)} ${words.cells}`;
  };
  const fold = (text) => text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  for (const list of lists) {
    const tools = document.createElement("span");
    tools.className = "tools";
    for (const [word, selected] of [[words.all, true], [words.none, false]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = word;
      button.addEventListener("click", () => {
        for (const o of list.options) o.selected = selected && codes(list).includes(o);
        update();
      });
      tools.append(button);
    }
    if (list.options.length > 8) {
      const filter = document.createElement("input");
      filter.type = "search";
      filter.placeholder = words.filter;
      filter.setAttribute("aria-label", `${words.filter}: ${list.closest("label").firstChild.textContent}`);
      filter.addEventListener("input", () => {
        const wanted = fold(filter.value);
        for (const o of list.options) o.hidden = wanted !== "" && !fold(o.textContent).includes(wanted);
      });
      tools.prepend(filter);
    }
    list.before(tools);
    list.addEventListener("change", update);
  }
  form.querySelector("button[type=submit]").before(count, " ");
  form.addEventListener("submit", () => {
    for (const list of lists) {
      const chosen = list.selectedOptions.length;
      if (chosen === 0 || codes(list).every((o) => o.selected)) list.disabled = true;
    }
  });
  update();
}

// Maps: tapping, clicking or focusing a shape writes its name and value under the map
// (a tooltip needs a mouse).
function identifyOnMaps() {
  for (const figure of document.querySelectorAll("figure.map")) {
    const out = figure.querySelector("output.map-identify");
    if (!out) continue;
    const show = (event) => {
      const shape = event.target.closest("[data-about]");
      if (shape) out.value = shape.dataset.about;
    };
    figure.addEventListener("click", show);
    figure.addEventListener("focusin", show);
  }
}

// Charts and maps can be saved as SVG or PNG, with their caption's words as the name.
function offerFigureDownloads() {
  for (const figure of document.querySelectorAll("figure.chart, figure.map")) {
    const svg = figure.querySelector("svg.chart, svg.map");
    if (!svg) continue;
    const name = (figure.querySelector("figcaption")?.textContent || "chart")
      .normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60);
    const source = () => new XMLSerializer().serializeToString(svg);
    const save = (href, extension) => {
      const link = document.createElement("a");
      link.href = href;
      link.download = `${name}.${extension}`;
      document.body.append(link);
      link.click();
      link.remove();
    };
    const asSvg = document.createElement("button");
    asSvg.type = "button";
    asSvg.textContent = "SVG";
    asSvg.addEventListener("click", () => save(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(source())}`, "svg"));
    const asPng = document.createElement("button");
    asPng.type = "button";
    asPng.textContent = "PNG";
    asPng.addEventListener("click", () => {
      const box = svg.viewBox.baseVal;
      const scale = 1600 / box.width;
      const image = new Image();
      image.onload = () => {
        const canvas = document.createElement("canvas");
        canvas.width = box.width * scale;
        canvas.height = box.height * scale;
        const context = canvas.getContext("2d");
        context.fillStyle = "#fff";
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        save(canvas.toDataURL("image/png"), "png");
      };
      image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(source())}`;
    });
    const tools = document.createElement("p");
    tools.className = "tools";
    tools.append(asSvg, asPng);
    figure.append(tools);
  }
}

// The items of a selection, split at the commas outside parentheses.
function selectionItems(value) {
  const items = [];
  let depth = 0, start = 0;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === "(") depth++;
    else if (value[i] === ")") depth = Math.max(0, depth - 1);
    else if (value[i] === "," && depth === 0) { items.push(value.slice(start, i)); start = i + 1; }
  }
  items.push(value.slice(start));
  return items.filter((item) => item !== "");
}

// The positions one selection picks in a dimension, as the site's select.rs does (the
// tests hold the two to the same answers); null for a selection that cannot be made. An
// item may pick nothing (TOP(0), a reversed RANGE); the whole selection may not.
function pickCategories(dimension, value) {
  const { codes, level, child, id } = dimension;
  const all = codes.map((_, i) => i);
  const at = (code) => codes.indexOf(code.trim());
  const count = (text) => (/^\s*\d+\s*$/.test(text) ? Number(text) : null);
  const picked = [];
  for (const item of selectionItems(value)) {
    const call = (name) => {
      const match = item.match(new RegExp(`^${name}\\((.*)\\)$`));
      return match ? match[1] : null;
    };
    let these = null;
    let inner;
    if (item === "*") these = all;
    else if ((inner = call("TOP")) !== null) these = count(inner) === null ? null : all.slice(0, count(inner));
    else if ((inner = call("LAST") ?? call("BOTTOM")) !== null) {
      these = count(inner) === null ? null : all.slice(Math.max(0, codes.length - count(inner)));
    } else if ((inner = call("RANGE")) !== null) {
      const comma = inner.indexOf(",");
      const [from, to] = comma < 0 ? [-1, -1] : [at(inner.slice(0, comma)), at(inner.slice(comma + 1))];
      these = from < 0 || to < 0 ? null : all.slice(from, to + 1);
    } else if ((inner = call("FROM")) !== null) these = at(inner) < 0 ? null : all.slice(at(inner));
    else if ((inner = call("TO")) !== null) these = at(inner) < 0 ? null : all.slice(0, at(inner) + 1);
    else if ((inner = call("LEVEL")) !== null) {
      these = all.filter((i) => (level[codes[i]] || id) === inner);
      if (!these.length) these = null;
    } else if ((inner = call("CHILDREN")) !== null) {
      const parts = at(inner) < 0 ? undefined : child[codes[at(inner)]];
      these = parts ? parts.map(at) : null;
    } else if (/[*?]/.test(item)) {
      const pattern = new RegExp(`^${item.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "s");
      these = all.filter((i) => pattern.test(codes[i]));
      if (!these.length) these = null;
    } else these = at(item) < 0 ? null : [at(item)];
    if (!these || these.some((i) => i < 0)) return null;
    for (const i of these) if (!picked.includes(i)) picked.push(i);
  }
  return picked.length ? picked : null;
}

// A static copy (site export): a file server answers every address of a table with the
// same page, so the script makes the selection the address asks from the table's
// signed JSON-stat file and draws its pivot as the site would.
async function staticSelection(form) {
  const words = JSON.parse(form.dataset.words);
  const asked = new URLSearchParams(location.search);
  const fields = Array.from(form.querySelectorAll("[data-dimension], input[name]"));
  const named = [...asked.keys()].some((k) => k === "cols" || k === "sort" || fields.some((f) => f.name === k));
  const slot = document.querySelector("div.pivot");
  if (!named || !slot) return;
  const say = (text) => { for (const note of document.querySelectorAll(".static-note")) note.textContent = text; };
  let doc;
  try {
    const response = await fetch(form.dataset.static);
    if (!response.ok) return;
    doc = await response.json();
  } catch (e) {
    return;
  }
  const dimensions = doc.id.map((id) => {
    const d = doc.dimension[id];
    const level = {};
    const list = form.querySelector(`select[name="${CSS.escape(id)}"]`);
    for (const o of list ? list.options : []) if (o.dataset.level) level[o.value] = o.dataset.level;
    return { id, label: d.label, codes: d.category.index, labels: d.category.label, child: d.category.child || {}, level };
  });
  const chosen = [];
  for (const d of dimensions) {
    const value = asked.getAll(d.id).filter((v) => v !== "").join(",");
    const picked = value ? pickCategories(d, value) : d.codes.map((_, i) => i);
    if (!picked) { say(`${words.bad_selection}: ${d.id}=${value}`); return; }
    chosen.push(picked);
    const list = form.querySelector(`select[name="${CSS.escape(d.id)}"]`);
    const items = selectionItems(value);
    for (const o of list ? list.options : []) o.selected = items.includes(o.value);
  }
  const cols = Math.max(0, doc.id.indexOf(asked.get("cols") || doc.id[doc.id.length - 1]));
  const sort = asked.get("sort") || "";
  const strides = doc.size.map((_, k) => doc.size.slice(k + 1).reduce((a, b) => a * b, 1));
  const status = (cell) => (Array.isArray(doc.status) ? doc.status[cell] : (doc.status || {})[cell]) || "";
  const format = new Intl.NumberFormat(document.documentElement.lang);
  const stub = doc.id.map((_, k) => k).filter((k) => k !== cols);
  const cellCount = chosen.reduce((n, c) => n * c.length, 1);
  slot.replaceChildren();
  slot.dataset.made = "here";
  say(words.static_selected);
  for (const figure of document.querySelectorAll("figure.chart, figure.map")) {
    figure.hidden = true;
    if (figure.previousElementSibling && figure.previousElementSibling.tagName === "H2") figure.previousElementSibling.hidden = true;
  }
  if (cellCount > 5000) {
    const warning = document.createElement("p");
    warning.className = "warning";
    warning.textContent = words.too_many;
    slot.append(warning);
    return;
  }
  // Rows: every combination of the stub dimensions' chosen categories, in order.
  let rows = [[]];
  for (const k of stub) rows = rows.flatMap((row) => chosen[k].map((i) => [...row, i]));
  const cellOf = (row, c) => stub.reduce((sum, k, n) => sum + row[n] * strides[k], 0) + c * strides[cols];
  const isTotal = (row) => stub.some((k, n) => dimensions[k].child[dimensions[k].codes[row[n]]]);
  const first = (row) => doc.value[cellOf(row, chosen[cols][0])] ?? -Infinity;
  if (sort === "asc" || sort === "desc") {
    rows.sort((a, b) => (isTotal(b) - isTotal(a)) || (sort === "asc" ? first(a) - first(b) : first(b) - first(a)));
  }
  const element = (tag, text, attributes = {}) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
    return e;
  };
  const box = element("div", undefined, { class: "scroll", tabindex: "0", role: "region", "aria-label": slot.dataset.caption });
  const table = element("table", undefined, { class: "data" });
  table.append(element("caption", slot.dataset.caption));
  const head = element("thead");
  const over = element("tr");
  if (stub.length) over.append(element("td", undefined, { colspan: String(stub.length) }));
  over.append(element("th", dimensions[cols].label, { scope: "colgroup", colspan: String(chosen[cols].length) }));
  const names = element("tr");
  for (const k of stub) names.append(element("th", dimensions[k].label, { scope: "col" }));
  for (const i of chosen[cols]) names.append(element("th", dimensions[cols].labels[dimensions[cols].codes[i]], { scope: "col" }));
  head.append(over, names);
  const body = element("tbody");
  for (const row of rows) {
    const tr = element("tr");
    stub.forEach((k, n) => tr.append(element("th", dimensions[k].labels[dimensions[k].codes[row[n]]], { scope: "row" })));
    for (const i of chosen[cols]) {
      const cell = row.length === 0 && stub.length === 0 ? i * strides[cols] : cellOf(row, i);
      const value = doc.value[cell];
      const td = element("td", value === null || value === undefined ? ".." : format.format(value));
      if (status(cell)) td.append(element("sup", status(cell)));
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(head, body);
  box.append(table);
  slot.append(box);
}

if (typeof document !== "undefined") {
  for (const box of document.querySelectorAll("[data-bundle][data-key]")) verifyRelease(box);
  for (const form of document.querySelectorAll("form.selection[data-static]")) staticSelection(form);
  identifyOnMaps();
  offerFigureDownloads();
  for (const form of document.querySelectorAll("form.selection[data-words]")) enhanceSelection(form);
} else if (typeof module !== "undefined") {
  // Node, in the tests: the selection functions, to check them against the site's own.
  module.exports = { pickCategories, selectionItems };
}
