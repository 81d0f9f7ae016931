// <msf-plan src="model.tflite" board="nucleo-f767zi" [budget="256000"] [max-overhead="1.3"]>
// A compact, read-only plan for documentation pages. Loads the wasm relative to this script
// (import.meta.url), so it works from any host and path; never registers a service worker; the
// wasm module is initialised once and shared by every element on the page.
const base = import.meta.url;
let wasm = null;
function loadWasm() {
  wasm ??= import(new URL('./pkg/msf_web.js', base).href).then(async (m) => {
    await m.default({ module_or_path: new URL('./pkg/msf_web_bg.wasm', base) });
    return m;
  });
  return wasm;
}

const fmtBytes = (b) => (b < 1000 ? `${b} B` : b < 1e6 ? `${(b / 1e3).toFixed(1)} kB` : `${(b / 1e6).toFixed(2)} MB`);
const fmtCount = (n) => (n < 1e3 ? String(n) : n < 1e6 ? `${(n / 1e3).toFixed(1)} k` : n < 1e9 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e9).toFixed(2)} G`);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `<style>
:host { display: block; --msf-bg: #fff; --msf-fg: #1d2330; --msf-muted: #5b6475; --msf-line: #8a93a6; --msf-grid: #e3e6ec;
  --msf-node: #fff; --msf-accent: #2f6fde; --msf-panel: #f6f7fa; font: 14px/1.4 system-ui, sans-serif; color: var(--msf-fg); }
@media (prefers-color-scheme: dark) { :host { --msf-bg: #14171d; --msf-fg: #e6e9ef; --msf-muted: #a1a9b8; --msf-line: #6f7889;
  --msf-grid: #2a2f3a; --msf-node: #1e232c; --msf-accent: #6ea0ff; --msf-panel: #1a1e26; } }
.box { background: var(--msf-panel); border: 1px solid var(--msf-grid); border-radius: 10px; padding: 10px 12px; max-width: 680px; }
.head { font-weight: 600; } .sub { color: var(--msf-muted); font-size: 12px; margin-bottom: 6px; }
dl { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 6px 0; } dt { font-size: 11px; color: var(--msf-muted); } dd { margin: 0; font-weight: 600; }
svg { max-width: 100%; height: auto; display: block; }
.err { color: #c62828; white-space: pre-wrap; } .bad { color: #c62828; }
</style>`;

class MsfPlan extends HTMLElement {
  static observedAttributes = ['src', 'board', 'budget', 'max-overhead'];
  #token = 0;
  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
  }
  connectedCallback() {
    this.#render();
  }
  attributeChangedCallback() {
    if (this.isConnected) this.#render();
  }
  async #render() {
    const token = ++this.#token;
    const src = this.getAttribute('src');
    this.shadowRoot.innerHTML = `${STYLE}<div class="box" part="box"><div class="sub">Planning ${esc(src || '')}…</div></div>`;
    this.dataset.state = 'busy';
    try {
      if (!src) throw new Error('<msf-plan> needs a src attribute (a .tflite or .onnx URL)');
      const url = new URL(src, document.baseURI);
      const [m, buf] = await Promise.all([
        loadWasm(),
        fetch(url).then((r) => {
          if (!r.ok) throw new Error(`cannot fetch ${src}: HTTP ${r.status}`);
          return r.arrayBuffer();
        }),
      ]);
      if (token !== this.#token) return;
      const name = decodeURIComponent(url.pathname.split('/').pop() || 'model').replace(/\.(tflite|onnx)$/i, '');
      const opts = {};
      if (this.getAttribute('board')) opts.board = this.getAttribute('board');
      if (this.getAttribute('budget')) opts.ram_budget = Number(this.getAttribute('budget'));
      if (this.getAttribute('max-overhead')) opts.max_overhead = Number(this.getAttribute('max-overhead'));
      const planner = new m.Planner(new Uint8Array(buf), name);
      let r;
      try {
        r = JSON.parse(planner.plan(JSON.stringify(opts)));
      } finally {
        planner.free();
      }
      const p = r.plan;
      const lat = r.latency_ms == null ? '' : `<div><dt>est. latency</dt><dd>${r.latency_ms < 1000 ? r.latency_ms.toFixed(1) + ' ms' : (r.latency_ms / 1000).toFixed(2) + ' s'}</dd></div>`;
      this.shadowRoot.innerHTML = `${STYLE}<div class="box" part="box">
<div class="head">${esc(r.model.name)}${r.board ? ` on ${esc(r.board.name)}` : ''}</div>
<div class="sub">${esc(p.objective)} · ${p.stages.length} stages${p.budget != null ? ` · ${p.fits ? 'fits' : '<b class="bad">does not fit</b>'} ${fmtBytes(p.budget)}` : ''}</div>
<dl><div><dt>peak RAM (I/O incl.)</dt><dd class="peak">${fmtBytes(p.peak_incl_io)}</dd></div>
<div><dt>peak RAM (I/O excl.)</dt><dd>${fmtBytes(p.peak_excl_io)}</dd></div>
<div><dt>MACs</dt><dd>${fmtCount(p.macs)}</dd></div><div><dt>overhead</dt><dd>${p.overhead.toFixed(2)}×</dd></div>${lat}</dl>
${r.svg_memory}</div>`;
      this.dataset.state = 'planned';
      this.dataset.peak = String(p.peak_incl_io);
    } catch (err) {
      if (token !== this.#token) return;
      this.shadowRoot.innerHTML = `${STYLE}<div class="box" part="box"><div class="err" role="alert">msf-plan: ${esc((err && err.message) || err)}</div></div>`;
      this.dataset.state = 'error';
    }
  }
}

if (!customElements.get('msf-plan')) customElements.define('msf-plan', MsfPlan);
