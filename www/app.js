// The page's glue: controls -> worker -> report -> DOM. All planning runs in worker.js.
const $ = (s) => document.querySelector(s);
const EXAMPLE = new URL('./examples/mbv1_w025_96_int8.tflite', import.meta.url);
const DEFAULT_BOARD = 'nucleo-f767zi';

const params = new URLSearchParams(location.search);
// A worker that sends nothing (no progress, no answer) for this long while a call waits is
// taken for dead and replaced. `?watchdog=SECONDS` changes it (the tests use a few seconds).
const STALL_MS = (Number(params.get('watchdog')) > 0 ? Number(params.get('watchdog')) : 120) * 1000;

let worker = null;
let nextId = 1;
const pending = new Map();
let lastGood = null; // {bytes, name}: reloaded into a fresh worker after a crash
let report = null;
let boards = [];
let lastHeard = 0; // performance.now() of the worker's last message, or of the first call it got
let watchdog = 0;
let heard = false; // the current worker has sent something
let deadStarts = 0; // workers in a row that died before sending anything: give up at 3

function fmtBytes(b) {
  if (b == null) return '–';
  if (b < 1000) return `${b} B`;
  if (b < 1e6) return `${(b / 1e3).toFixed(1)} kB`;
  return `${(b / 1e6).toFixed(2)} MB`;
}
function fmtCount(n) {
  if (n < 1e3) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)} M`;
  return `${(n / 1e9).toFixed(2)} G`;
}
function fmtMs(ms) {
  if (ms == null) return '–';
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 2 : 1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function startWorker() {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker = w;
  heard = false;
  w.onmessage = (e) => {
    if (w !== worker) return; // a replaced worker's last words
    lastHeard = performance.now();
    heard = true;
    deadStarts = 0;
    const { id, progress, result, error, fatal } = e.data;
    const p = pending.get(id);
    if (!p) return;
    if (progress) return p.onProgress && p.onProgress(progress);
    pending.delete(id);
    if (error !== undefined) {
      const err = new Error(error);
      err.fatal = fatal;
      p.reject(err);
    } else p.resolve(result);
  };
  // The worker script failed, or threw outside a message handler.
  w.onerror = (e) => {
    e.preventDefault();
    if (w === worker) recover(`The planner stopped: ${e.message || 'its worker failed'}.`);
  };
  w.onmessageerror = () => w === worker && recover('The planner sent a message the page cannot read.');
}

// The worker is dead (it trapped, threw, or stopped answering): every waiting call fails with
// `why`, a fresh worker takes its place, and the last model that planned is loaded into it
// again, so the plan on screen stays usable (another point, a stage, the download) and a new
// model can be dropped at once.
function recover(why) {
  if (!heard) deadStarts++;
  const again = deadStarts < 3;
  const tail = !again
    ? ' It failed again at once: reload the page.'
    : lastGood
      ? ` The planner was restarted with ${lastGood.name}; you can drop another model.`
      : ' The planner was restarted; you can open a model.';
  const msg = why + tail;
  for (const p of pending.values()) p.reject(Object.assign(new Error(msg), { recovered: true }));
  pending.clear();
  if (worker) worker.terminate();
  worker = null;
  showError(msg);
  setBusy(null);
  $('#status').textContent = report ? 'The previous plan is still shown.' : 'Open a model to start.';
  if (!again) return;
  startWorker();
  if (lastGood) {
    const model = lastGood;
    call('load', { ...model, bytes: model.bytes.slice(0), options: options() })
      // Unless the person started something else meanwhile (its answer comes next).
      .then((r) => lastGood === model && document.body.dataset.state !== 'busy' && show(r))
      .catch((err) => {
        if (err.recovered) return;
        // The model that planned before fails now: forget it rather than loop.
        if (lastGood === model) lastGood = null;
        showError(`${msg}\nReloading ${model.name} failed too: ${err.message}`);
        if (err.fatal) recover('The planner stopped again.');
      });
  }
}

function checkWorker() {
  if (!pending.size) {
    clearInterval(watchdog);
    watchdog = 0;
    return;
  }
  const quiet = performance.now() - lastHeard;
  if (quiet > STALL_MS) recover(`The planner stopped answering (nothing for ${Math.round(quiet / 1000)} s).`);
}

function call(cmd, args = {}, onProgress) {
  if (!worker) return Promise.reject(new Error('The planner is not running: reload the page.'));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    if (!pending.size) lastHeard = performance.now();
    pending.set(id, { resolve, reject, onProgress });
    if (!watchdog) watchdog = setInterval(checkWorker, Math.min(1000, STALL_MS / 4));
    const transfer = args.bytes instanceof ArrayBuffer ? [args.bytes] : [];
    worker.postMessage({ id, cmd, ...args }, transfer);
  });
}

function options() {
  const o = {};
  const board = $('#board').value;
  if (board) o.board = board;
  const kb = parseFloat($('#budget').value);
  if (Number.isFinite(kb) && kb > 0) o.ram_budget = Math.round(kb * 1000);
  const f = parseFloat($('#overhead').value);
  if (Number.isFinite(f)) o.max_overhead = f;
  if ($('#paper').checked) o.paper = true;
  return o;
}

function setBusy(what) {
  document.body.dataset.state = what ? 'busy' : (report ? 'planned' : 'idle');
  $('#progress').hidden = !what;
  if (what) {
    $('#progress').removeAttribute('value');
    $('#status').textContent = what;
  }
}

function onProgress(started) {
  return ({ stage, frac }) => {
    const bar = $('#progress');
    bar.value = Math.max(0, Math.min(1, frac));
    $('#status').textContent = `${stage}… ${((performance.now() - started) / 1000).toFixed(1)} s`;
  };
}

function showError(msg) {
  const box = $('#error');
  box.textContent = msg;
  box.hidden = false;
  document.body.dataset.error = '1';
}
function clearError() {
  $('#error').hidden = true;
  delete document.body.dataset.error;
}

async function run(label, cmd, args) {
  clearError();
  const started = performance.now();
  setBusy(label);
  try {
    const r = await call(cmd, args, onProgress(started));
    const secs = ((performance.now() - started) / 1000).toFixed(2);
    if (cmd === 'zip') return r;
    show(r);
    $('#status').textContent = `Planned in ${secs} s.`;
    return r;
  } catch (err) {
    if (err.fatal) recover(`${err.message}.`);
    else showError(err.message);
    $('#status').textContent = report ? 'The previous plan is still shown.' : 'Open a model to start.';
    return null;
  } finally {
    setBusy(null);
  }
}

async function loadBytes(bytes, name) {
  const keep = bytes.slice(0);
  const r = await run(`Reading and planning ${name}`, 'load', { bytes, name, options: options() });
  if (r) lastGood = { bytes: keep, name };
}

function show(r) {
  report = r;
  window.msfReport = r; // read by tests/web and handy in the console
  const m = r.model;
  const p = r.plan;
  $('#model-title').textContent = m.name;
  $('#model-facts').textContent = `${m.format.toUpperCase()} · ${m.ops} ops · input ${m.input} · output ${m.output} · weights ${fmtBytes(m.weight_bytes)} (flash) · ${p.stages.length} stages · ${p.objective}`;
  const set = (id, text, bytes) => {
    const el = $(id);
    el.textContent = text;
    if (bytes !== undefined) el.dataset.value = String(bytes);
  };
  set('#m-peak-incl', fmtBytes(p.peak_incl_io), p.peak_incl_io);
  set('#m-peak-excl', fmtBytes(p.peak_excl_io), p.peak_excl_io);
  set('#m-macs', fmtCount(p.macs), p.macs);
  set('#m-overhead', `${p.overhead.toFixed(2)}×`, p.overhead);
  set('#m-latency', r.latency_ms == null ? 'pick a board' : fmtMs(r.latency_ms), r.latency_ms ?? '');
  const b = $('#m-budget');
  b.textContent = p.budget == null ? 'none' : `${fmtBytes(p.budget)} ${p.fits ? '✓ fits' : '✗ too big'}`;
  b.className = p.budget == null ? '' : p.fits ? 'ok' : 'bad';
  $('#m-peak-incl').className = p.budget == null ? '' : p.fits ? 'ok' : 'bad';
  const notes = $('#notes');
  notes.replaceChildren(...r.notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  if (m.opaque) notes.append(Object.assign(document.createElement('li'), { textContent: m.opaque }));
  $('#graph').innerHTML = r.svg_graph;
  $('#memory').innerHTML = r.svg_memory;
  $('#pareto').innerHTML = r.svg_pareto;
  $('#stage-panel').hidden = true;
  $('#download').disabled = !r.board;
  $('#download').title = r.board ? `Zip a Rust project for ${r.board.name}` : 'Pick a board first';
  document.body.dataset.state = 'planned';
  document.body.dataset.peak = String(p.peak_incl_io);
}

async function openStage(k) {
  try {
    const s = await call('stage', { index: k });
    $('#graph').innerHTML = s.svg_graph;
    $('#stage-title').textContent = `Stage ${k + 1}: ${s.fused ? `fused block of ${s.layers.length} layers` : 'single layer'}`;
    const bits = [`RAM ${fmtBytes(s.ram)} (I/O excl. ${fmtBytes(s.ram_excl_io)})`, `${fmtCount(s.macs)} MACs`];
    if (s.out_tile) bits.push(`output tile ${s.out_tile[0]}×${s.out_tile[1]}`);
    if (s.fused) bits.push(`caches ${fmtBytes(s.cache_bytes)}`);
    $('#stage-facts').textContent = bits.join(' · ');
    $('#stage-ram').innerHTML = s.svg_ram;
    const rows = s.layers.map((l) => {
      const tr = document.createElement('tr');
      for (const v of [l.op, l.label, l.output, l.tile ? `${l.tile[0]}×${l.tile[1]}` : 'whole', fmtCount(l.macs)]) {
        tr.append(Object.assign(document.createElement('td'), { textContent: v }));
      }
      tr.title = l.name;
      return tr;
    });
    $('#stage-layers tbody').replaceChildren(...rows);
    $('#stage-panel').hidden = false;
    $('#stage-title').focus({ preventScroll: true });
    $('#stage-panel').scrollIntoView({ block: 'nearest' });
  } catch (err) {
    if (err.fatal) recover(`${err.message}.`);
    else showError(err.message);
  }
}

async function download() {
  const board = $('#board').value;
  if (!board || !report) return;
  const bytes = await run(`Writing the project for ${board}`, 'zip', { board });
  if (!bytes) return;
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/zip' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: `${report.model.name}-${board}.zip` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  const fused = report.plan.stages.filter((s) => s.fused).length;
  // The project runs the plan on screen (fused stages through msf-runtime's fused executor,
  // arena = the plan's peak), except with the paper's cost model, whose figures are no schedule:
  // that download runs layer by layer (crates/web/src/adapt.rs: emit_zip).
  const how = !fused
    ? ''
    : $('#paper').checked
      ? ' The paper cost model gives figures, not a schedule: this firmware runs the model layer by layer.'
      : ` The firmware runs this plan: ${fused} fused stage${fused > 1 ? 's' : ''}, arena ${fmtBytes(report.plan.peak_incl_io)}.`;
  $('#status').textContent = `Downloaded ${a.download} (${fmtBytes(bytes.length)}).` + how;
}

function activate(target) {
  const st = target.closest('[data-stage]');
  if (st) return openStage(Number(st.dataset.stage)), true;
  const pt = target.closest('[data-point]');
  if (pt) return run('Planning the chosen point', 'select', { index: Number(pt.dataset.point) }), true;
  return false;
}

async function openFile(file) {
  if (!file) return;
  const bytes = await file.arrayBuffer();
  const name = file.name.replace(/\.(tflite|onnx)$/i, '');
  await loadBytes(bytes, name);
}

async function loadExample() {
  try {
    const res = await fetch(EXAMPLE);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    await loadBytes(await res.arrayBuffer(), 'mbv1_w025_96_int8');
  } catch (err) {
    showError(`cannot fetch the example model: ${err.message}`);
  }
}

let replanTimer = 0;
function replanSoon() {
  clearTimeout(replanTimer);
  replanTimer = setTimeout(() => {
    if (lastGood) run('Planning', 'plan', { options: options() });
  }, 250);
}

async function main() {
  if ('serviceWorker' in navigator && location.protocol.startsWith('http')) {
    // sw.js sits beside index.html so its scope covers the page (see crates/xtask).
    navigator.serviceWorker.register(new URL('../sw.js', import.meta.url)).catch(() => {});
  }
  startWorker();
  const hello = await call('hello').catch((err) => (showError(`the planner failed to start: ${err.message}`), null));
  if (!hello) return;
  boards = hello.boards;
  $('#version').textContent = `v${hello.version}`;
  const sel = $('#board');
  for (const b of boards) {
    sel.append(new Option(`${b.name} — ${fmtBytes(b.ram)} RAM`, b.id));
  }
  if (boards.some((b) => b.id === DEFAULT_BOARD)) sel.value = DEFAULT_BOARD;
  $('#file').addEventListener('change', (e) => openFile(e.target.files[0]).finally(() => (e.target.value = '')));
  $('#example').addEventListener('click', loadExample);
  $('#plan').addEventListener('click', () => (lastGood ? run('Planning', 'plan', { options: options() }) : loadExample()));
  $('#download').addEventListener('click', download);
  for (const id of ['#board', '#budget', '#overhead', '#paper']) $(id).addEventListener('change', replanSoon);
  for (const id of ['#budget', '#overhead']) {
    $(id).addEventListener('keydown', (e) => e.key === 'Enter' && (clearTimeout(replanTimer), lastGood && run('Planning', 'plan', { options: options() })));
  }
  for (const id of ['#graph', '#pareto', '#memory']) {
    $(id).addEventListener('click', (e) => activate(e.target));
    $(id).addEventListener('keydown', (e) => {
      if ((e.key === 'Enter' || e.key === ' ') && activate(e.target)) e.preventDefault();
    });
  }
  addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  addEventListener('dragleave', (e) => e.relatedTarget == null && document.body.classList.remove('dragging'));
  addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    openFile(e.dataTransfer.files[0]);
  });
  if (params.has('test-hooks')) {
    // tests/web: make the worker trap, throw, hang or exit (worker.js: crash).
    window.msfTest = { crash: (how) => run(`Test: the planner ${how}s`, 'test-crash', { how }) };
  }
  $('#status').textContent = 'Planning the example model…';
  await loadExample();
}

main();
