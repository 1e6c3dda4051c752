// avatargan page: a grid of avatars by seed. Everything is derived from the URL
// (?seed=S&t=T), so a copied link reproduces the same grid.
"use strict";

const N = 24;          // avatars per batch
const CELL = 96;       // displayed (and requested) cell size in px
const $ = (id) => document.getElementById(id);

const params = new URLSearchParams(location.search);
let base = parseSeed(params.get("seed")) ?? randomSeed();
let t = parseT(params.get("t")) ?? 1;
let picks = [];        // up to two seeds for the interpolation view
let current = null;    // seed shown in the viewer

function parseSeed(s) {
  // Seeds are uint64 on the server; the page stays in the exact-integer range.
  return s !== null && /^\d{1,15}$/.test(s) ? Number(s) : null;
}
// The slider's min, max and step (index.html) bound the page's t: the latent is scaled,
// and below ~0.9 the avatars fade toward a pale blank (BatchNorm's running statistics see
// a smaller input), above ~1.2 they break up. The API takes 0.1..1.5; a shared ?t=
// outside the slider's range falls back to 1.
function parseT(s) {
  const el = $("creativity"), v = Number(s);
  const k = Math.round(1 / Number(el.step)); // steps per unit: v*k/k stays exact (1.05, not 1.0500000000000003)
  return s !== null && v >= Number(el.min) && v <= Number(el.max) ? Math.round(v * k) / k : null;
}
function randomSeed() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}
function tParam() { return t === 1 ? "" : "&t=" + t; }
function avatarURL(seed, size, filter) {
  return `/avatar/${seed}.png?size=${size}${filter ? "&filter=" + filter : ""}${tParam()}`;
}

function syncURL() {
  const q = "?seed=" + base + (t === 1 ? "" : "&t=" + t);
  history.replaceState(null, "", q);
  $("share").href = q;
  const zip = $("zip");
  zip.href = `/batch.zip?seed=${base}&n=${N}&size=256${tParam()}`;
  zip.setAttribute("download", `avatars-${base}-${base + N - 1}.zip`);
}

function render() {
  const grid = $("grid");
  const cells = [];
  for (let i = 0; i < N; i++) {
    const seed = base + i;
    const fig = document.createElement("figure");
    fig.className = "cell" + (picks.includes(seed) ? " picked" : "");
    fig.dataset.seed = seed;
    const img = document.createElement("img");
    img.className = "avatar";
    img.width = img.height = CELL;
    img.alt = "avatar " + seed;
    img.src = avatarURL(seed, CELL);
    img.addEventListener("click", () => openViewer(seed));
    const cap = document.createElement("figcaption");
    cap.className = "seed";
    cap.textContent = seed;
    fig.append(img, cap);
    cells.push(fig);
  }
  grid.replaceChildren(...cells);
  syncURL();
  renderInterp();
}

function openViewer(seed) {
  current = seed;
  $("viewer-img").src = avatarURL(seed, 256);
  $("viewer-seed").textContent = "seed " + seed;
  // 256 px is an enlargement of the 48 px avatar: offer both looks, and say so.
  const dl = $("download");
  dl.href = avatarURL(seed, 256);
  dl.setAttribute("download", `avatar-${seed}.png`);
  const sm = $("download-smooth");
  sm.href = avatarURL(seed, 256, "smooth");
  sm.setAttribute("download", `avatar-${seed}-smooth.png`);
  $("viewer").showModal();
}

function renderInterp() {
  const box = $("interp");
  for (const fig of document.querySelectorAll("#grid .cell")) {
    fig.classList.toggle("picked", picks.includes(Number(fig.dataset.seed)));
  }
  const img = $("interp-img");
  if (picks.length < 2) {
    box.hidden = picks.length === 0;
    $("interp-label").textContent = picks.length ? `${picks[0]} → (pick one more)` : "";
    // An <img> without a source shows a broken-image icon: hide it until there is one.
    img.hidden = true;
    img.removeAttribute("src");
    return;
  }
  box.hidden = false;
  $("interp-label").textContent = `${picks[0]} → ${picks[1]}`;
  img.src = `/interpolate.gif?from=${picks[0]}&to=${picks[1]}&steps=24${tParam()}`;
  img.hidden = false;
}

$("new-batch").addEventListener("click", () => { base = randomSeed(); render(); });
$("creativity").value = t;
$("creativity-value").textContent = t.toFixed(2);
$("creativity").addEventListener("input", (e) => {
  $("creativity-value").textContent = Number(e.target.value).toFixed(2);
});
// Re-render on release only: every step would refetch the whole grid.
$("creativity").addEventListener("change", (e) => { t = parseT(e.target.value) ?? 1; render(); });
$("pick").addEventListener("click", () => {
  if (current !== null && !picks.includes(current)) picks = [...picks, current].slice(-2);
  $("viewer").close();
  renderInterp();
});
$("viewer-close").addEventListener("click", () => $("viewer").close());
$("viewer").addEventListener("click", (e) => { if (e.target === $("viewer")) $("viewer").close(); });
$("interp-clear").addEventListener("click", () => { picks = []; renderInterp(); });

render();
