// Drives the msf-planner page in Debian's Chromium with playwright-core. Started by
// `cargo xtask test-web`, which builds the wasm, writes dist/, serves the repository at / and
// dist/ at /sub/dir/app/, and passes the base URL in MSF_BASE_URL.
//
// Writes tests/artifacts/main.png (+ main-dark.png, stage.png, embed.png) and
// tests/artifacts/web-bench.md (wasm size, drop-to-plan times).
import { chromium } from 'playwright-core';
import { readFileSync, writeFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, basename } from 'node:path';
import assert from 'node:assert/strict';

const BASE = process.env.MSF_BASE_URL || 'http://127.0.0.1:8080/';
const REPO = process.env.MSF_REPO || new URL('../..', import.meta.url).pathname;
const MODELS = join(REPO, 'tests/models');
const ART = join(REPO, 'tests/artifacts');
mkdirSync(ART, { recursive: true });
const ONLY = process.env.MSF_ONLY; // run one test by name substring

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// Every request any page, worker or service worker makes, to prove nothing leaves localhost.
const requests = [];
async function newContext(opts = {}) {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1440, height: 1000 }, ...opts });
  ctx.on('request', (r) => requests.push(r.url()));
  ctx.on('serviceworker', (w) => w.on('console', () => {}));
  return ctx;
}
function watchErrors(page, bag) {
  page.on('pageerror', (e) => bag.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && bag.push(`console: ${m.text()}`));
}

const planned = (page, timeout = 120000) => page.waitForFunction(() => document.body.dataset.state === 'planned', null, { timeout });
const peak = (page) => page.$eval('#m-peak-incl', (e) => Number(e.dataset.value));
const modelTitle = (page) => page.textContent('#model-title');

async function openMain(ctx, path = 'index.html') {
  const page = await ctx.newPage();
  const errors = [];
  watchErrors(page, errors);
  await page.goto(new URL(path, BASE).href);
  await planned(page);
  return { page, errors };
}

/// File names in a zip's central directory.
function zipNames(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  assert.ok(eocd >= 0, 'zip has an end-of-central-directory record');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const names = [];
  for (let k = 0; k < count; k++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, 'central directory entry signature');
    const n = buf.readUInt16LE(p + 28), x = buf.readUInt16LE(p + 30), c = buf.readUInt16LE(p + 32);
    names.push(buf.subarray(p + 46, p + 46 + n).toString('utf8'));
    p += 46 + n + x + c;
  }
  return names;
}

/// Drop a file on the page the way a person does (a DataTransfer with a File), timing from the
/// drop event to the plan of that model being on screen.
async function dropAndTime(page, path) {
  const name = basename(path).replace(/\.(tflite|onnx)$/, '');
  const b64 = readFileSync(path).toString('base64');
  return page.evaluate(async ({ b64, file, name }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], file));
    const before = window.msfReport;
    const t0 = performance.now();
    window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    for (;;) {
      await new Promise((r) => requestAnimationFrame(r));
      const title = document.querySelector('#model-title').textContent;
      const err = document.querySelector('#error');
      if (document.body.dataset.state !== 'busy' && !err.hidden) return { ms: performance.now() - t0, error: err.textContent };
      if (document.body.dataset.state === 'planned' && title === name && window.msfReport !== before) return { ms: performance.now() - t0, peak: Number(document.querySelector('#m-peak-incl').dataset.value), stages: document.querySelectorAll('#graph [data-stage]').length };
      if (performance.now() - t0 > 300000) return { ms: performance.now() - t0, error: 'timeout' };
    }
  }, { b64, file: basename(path), name });
}

const bench = { wasm: null, drops: [] };
const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('page loads and plans the bundled model', async () => {
  const ctx = await newContext();
  const { page, errors } = await openMain(ctx);
  assert.equal(await modelTitle(page), 'mbv1_w025_96_int8');
  assert.ok((await peak(page)) > 0, 'a peak is shown');
  assert.ok((await page.$$('#graph [data-stage]')).length > 1, 'the graph has stages');
  assert.ok((await page.$$('#pareto [data-point]')).length >= 1, 'the Pareto front has points');
  assert.ok((await page.$$('#memory rect')).length > 1, 'memory chart has bars');
  assert.deepEqual(errors, [], errors.join(' | '));
  await ctx.close();
});

test('another board and a RAM budget show the new peak', async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  const first = await peak(page);
  const boards = await page.$$eval('#board option', (os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(boards.length > 1, 'the catalogue has boards');
  // The smallest board: its RAM becomes the budget shown.
  const small = await page.evaluate(() => [...document.querySelectorAll('#board option')].filter((o) => o.value).map((o) => o.value)[0]);
  const other = boards.find((b) => b !== 'nucleo-f767zi');
  await page.selectOption('#board', other);
  await page.waitForFunction((b) => window.msfReport && window.msfReport.board && window.msfReport.board.id === b && document.body.dataset.state === 'planned', other, { timeout: 120000 });
  const boardRam = await page.evaluate(() => window.msfReport.board.ram);
  assert.equal(await page.evaluate(() => window.msfReport.plan.budget), await page.evaluate(() => window.msfReport.fit.budget), 'the budget is the fit decision\'s (what the firmware has for the arena)');
  assert.ok(boardRam > await page.evaluate(() => window.msfReport.fit.budget), 'below the board RAM: statics and stack');
  // A budget between the least-RAM and the unfused point of the Pareto front forces fusion.
  const front = await page.evaluate(() => window.msfReport.pareto.map((p) => p.peak));
  assert.ok(front.length > 1, 'the front has several points');
  const budget = front[Math.floor(front.length / 2)] + 1;
  await page.fill('#budget', String(budget / 1000));
  await page.press('#budget', 'Enter');
  await page.waitForFunction((b) => window.msfReport.plan.budget === b && document.body.dataset.state === 'planned', budget, { timeout: 120000 });
  const second = await peak(page);
  assert.notEqual(second, first, `peak changed (was ${first}, now ${second})`);
  assert.ok(second < first, `the new peak ${second} is below the unfused ${first}`);
  assert.match(await page.textContent('#m-budget'), new RegExp(`^${(budget / 1000).toFixed(1)} kB`));
  void small;
  await ctx.close();
});

test('a corpus model loaded through the file input plans', async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  await page.setInputFiles('#file', join(MODELS, 'mcunet_like_160_int8.tflite'));
  await page.waitForFunction(() => document.querySelector('#model-title').textContent === 'mcunet_like_160_int8' && document.body.dataset.state === 'planned', null, { timeout: 120000 });
  assert.ok((await peak(page)) > 0);
  await page.setInputFiles('#file', join(MODELS, 'onnx_small_cnn_f32.onnx'));
  await page.waitForFunction(() => document.querySelector('#model-title').textContent === 'onnx_small_cnn_f32' && document.body.dataset.state === 'planned', null, { timeout: 120000 });
  await ctx.close();
});

test('a stage opens from the keyboard and the Pareto front is clickable', async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  await page.focus('#graph [data-stage="0"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#stage-panel:not([hidden])');
  assert.match(await page.textContent('#stage-title'), /^Stage 1/);
  assert.ok((await page.$$('#stage-layers tbody tr')).length >= 1);
  await page.screenshot({ path: join(ART, 'stage.png'), fullPage: false });
  const pts = await page.$$('#pareto [data-point]');
  const k = pts.length - 1;
  await page.click(`#pareto [data-point="${k}"]`);
  await planned(page);
  await page.waitForFunction((k) => document.querySelector('#pareto .msf-chosen') !== null && document.querySelector(`#pareto [data-point="${k}"]`) !== null, k);
  await ctx.close();
});

test("the paper's cost model reproduces the reference's MBV2 figure", async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  await page.setInputFiles('#file', join(MODELS, 'paper_mbv2_w035_144_int8.tflite'));
  await page.waitForFunction(() => window.msfReport.model.name === 'paper_mbv2_w035_144_int8' && document.body.dataset.state === 'planned', null, { timeout: 120000 });
  await page.check('#paper');
  await page.fill('#overhead', '1.3');
  await page.press('#overhead', 'Enter');
  await page.waitForFunction(() => window.msfReport.options.paper && window.msfReport.options.max_overhead === 1.3 && document.body.dataset.state === 'planned', null, { timeout: 120000 });
  // README, "Planner (issue 4)": paper mode, F <= 1.3: 21288 B, I/O excluded.
  assert.equal(await page.textContent('#m-peak-excl'), '21.3 kB');
  assert.match(await page.textContent('#notes'), /paper cost model/);
  await ctx.close();
});

test('the downloaded zip holds a Cargo.toml', async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  assert.ok(await page.$eval('#download', (b) => !b.disabled), 'download is enabled with a board');
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), page.click('#download')]);
  const path = await dl.path();
  const names = zipNames(readFileSync(path));
  assert.ok(names.some((n) => n === 'Cargo.toml' || n.endsWith('/Cargo.toml')), `Cargo.toml in ${names.join(', ')}`);
  await ctx.close();
});

test('a garbage file shows an error and the page keeps working', async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  const before = await peak(page);
  await page.setInputFiles('#file', { name: 'garbage.tflite', mimeType: 'application/octet-stream', buffer: Buffer.from('this is not a model at all, just some text bytes'.repeat(20)) });
  await page.waitForSelector('#error:not([hidden])');
  const msg = await page.textContent('#error');
  assert.match(msg, /garbage/, 'the message names the file');
  assert.equal(await modelTitle(page), 'mbv1_w025_96_int8', 'the previous model stays');
  assert.equal(await peak(page), before);
  // Truncated real model: also an error, not a dead page.
  const real = readFileSync(join(MODELS, 'tiny_cnn_int8.tflite'));
  await page.setInputFiles('#file', { name: 'truncated.tflite', mimeType: 'application/octet-stream', buffer: real.subarray(0, real.length >> 1) });
  await page.waitForFunction(() => document.querySelector('#error').textContent.includes('truncated'));
  await page.setInputFiles('#file', join(MODELS, 'tiny_cnn_int8.tflite'));
  await page.waitForFunction(() => document.querySelector('#model-title').textContent === 'tiny_cnn_int8' && document.body.dataset.state === 'planned', null, { timeout: 60000 });
  assert.ok(await page.$eval('#error', (e) => e.hidden), 'the error clears on success');
  await ctx.close();
});

test('a worker that traps, throws, hangs or exits: an error, a fresh worker, and the next model plans', async () => {
  const ctx = await newContext();
  // ?test-hooks: window.msfTest.crash (www/app.js, www/worker.js); ?watchdog=5: a worker silent
  // for 5 s while a call waits is taken for dead (default 120 s).
  const { page } = await openMain(ctx, 'index.html?test-hooks&watchdog=5');
  const cases = [
    ['trap', /^internal error in the planner \(please report it with the model\): .*unreachable/, 'tiny_cnn_int8.tflite'],
    ['throw', /^The planner stopped: .*test hook: the worker threw/, 'onnx_small_cnn_f32.onnx'],
    ['hang', /^The planner stopped answering \(nothing for \d+ s\)/, 'tiny_cnn_int8.tflite'],
    ['exit', /^The planner stopped answering/, 'mcunet_like_160_int8.tflite'],
  ];
  for (const [how, re, next] of cases) {
    const shown = await modelTitle(page);
    const t0 = Date.now();
    await page.evaluate((how) => void window.msfTest.crash(how), how);
    await page.waitForFunction(() => !document.querySelector('#error').hidden && document.body.dataset.state !== 'busy', null, { timeout: 30000 });
    const msg = await page.textContent('#error');
    assert.match(msg, re, `${how}: ${msg}`);
    assert.match(msg, new RegExp(`The planner was restarted with ${shown}; you can drop another model\\.$`), `${how}: ${msg}`);
    assert.equal(await modelTitle(page), shown, `${how}: the plan on screen stays`);
    if (how === 'hang') assert.ok(Date.now() - t0 < 20000, `the hang was noticed in ${Date.now() - t0} ms`);
    if (how === 'trap') {
      // The fresh worker holds the model on screen again: another Pareto point plans.
      const pts = await page.$$('#pareto [data-point]');
      await page.click(`#pareto [data-point="${pts.length - 1}"]`);
      await page.waitForFunction(() => document.body.dataset.state === 'planned' && document.querySelector('#pareto .msf-chosen') !== null, null, { timeout: 60000 });
    }
    await page.setInputFiles('#file', join(MODELS, next));
    const name = next.replace(/\.(tflite|onnx)$/, '');
    await page.waitForFunction((n) => document.querySelector('#model-title').textContent === n && document.body.dataset.state === 'planned', name, { timeout: 120000 });
    assert.ok(await page.$eval('#error', (e) => e.hidden), `${how}: the error clears when the next model plans`);
    assert.ok((await peak(page)) > 0);
  }
  await ctx.close();
});

test('after one load the page works offline', async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await ctx.setOffline(true);
  await page.reload();
  await planned(page);
  assert.equal(await modelTitle(page), 'mbv1_w025_96_int8');
  assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the service worker controls the page');
  await ctx.close();
});

test('the manifest makes the page installable', async () => {
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  const m = await page.evaluate(async () => {
    const href = document.querySelector('link[rel=manifest]').href;
    const j = await (await fetch(href)).json();
    const icons = await Promise.all(j.icons.map(async (i) => (await fetch(new URL(i.src, href))).ok));
    return { j, icons, start: new URL(j.start_url, href).href };
  });
  assert.equal(m.j.display, 'standalone');
  assert.ok(m.icons.every(Boolean) && m.j.icons.some((i) => i.sizes === '512x512'));
  assert.equal(m.start, new URL('index.html', BASE).href);
  // Chromium's own verdict (the checks behind the install prompt), once the worker controls.
  await page.evaluate(async () => navigator.serviceWorker.ready);
  await page.reload();
  await planned(page);
  const cdp = await ctx.newCDPSession(page);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  // Playwright's contexts are off-the-record, which Chromium lists as a reason by itself.
  const real = installabilityErrors.filter((e) => e.errorId !== 'in-incognito');
  assert.deepEqual(real, [], JSON.stringify(installabilityErrors));
  await ctx.close();
});

test('dist/ works under a sub-path', async () => {
  const ctx = await newContext();
  const { page, errors } = await openMain(ctx, 'sub/dir/app/index.html');
  assert.equal(await modelTitle(page), 'mbv1_w025_96_int8');
  await page.evaluate(async () => navigator.serviceWorker.ready);
  assert.match(await page.evaluate(async () => (await navigator.serviceWorker.ready).scope), /\/sub\/dir\/app\/$/);
  assert.deepEqual(errors, [], errors.join(' | '));
  await ctx.close();
});

test('a page with two <msf-plan> renders both', async () => {
  const ctx = await newContext();
  const page = await ctx.newPage();
  const errors = [];
  watchErrors(page, errors);
  await page.goto(new URL('www/embed-demo.html', BASE).href);
  await page.waitForFunction(() => [...document.querySelectorAll('msf-plan')].every((e) => e.dataset.state === 'planned'), null, { timeout: 120000 });
  const shown = await page.$$eval('msf-plan', (els) => els.map((e) => ({ svg: !!e.shadowRoot.querySelector('svg'), peak: Number(e.dataset.peak) })));
  assert.equal(shown.length, 2);
  assert.ok(shown.every((s) => s.svg && s.peak > 0));
  assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length), 0, 'the embed registers no service worker');
  await page.screenshot({ path: join(ART, 'embed.png'), fullPage: true });
  assert.deepEqual(errors, [], errors.join(' | '));
  await ctx.close();
});

test('screenshots of the main view (light and dark)', async () => {
  for (const scheme of ['light', 'dark']) {
    const ctx = await newContext({ colorScheme: scheme });
    const { page } = await openMain(ctx);
    await page.screenshot({ path: join(ART, scheme === 'light' ? 'main.png' : 'main-dark.png') });
    await ctx.close();
  }
});

test('benchmark: wasm size and drop-to-plan time for every corpus model', async () => {
  const wasm = readFileSync(join(REPO, 'www/pkg/msf_web_bg.wasm'));
  bench.wasm = { raw: wasm.length, gzip: gzipSync(wasm, { level: 9 }).length, js: statSync(join(REPO, 'www/pkg/msf_web.js')).size };
  const ctx = await newContext();
  const { page } = await openMain(ctx);
  const files = readdirSync(MODELS).filter((f) => /\.(tflite|onnx)$/.test(f)).map((f) => join(MODELS, f)).sort((a, b) => statSync(a).size - statSync(b).size);
  // Three drops per model (another model in between, so each is a real import + plan); the
  // median is reported, with the spread.
  const runs = new Map(files.map((f) => [f, []]));
  for (let round = 0; round < 3; round++) {
    for (const f of files) runs.get(f).push(await dropAndTime(page, f));
  }
  for (const f of files) {
    const rs = runs.get(f);
    const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
    bench.drops.push({ file: basename(f), bytes: statSync(f).size, ...rs[0], ms: ms[1], min: ms[0], max: ms[2] });
  }
  const largest = bench.drops[bench.drops.length - 1];
  assert.ok(!largest.error, `the largest model plans: ${largest.error}`);
  await ctx.close();
});

let failed = 0;
for (const t of tests) {
  if (ONLY && !t.name.includes(ONLY)) continue;
  const t0 = Date.now();
  try {
    await t.fn();
    console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name} (${Date.now() - t0} ms)\n     ${e && e.message || e}`);
  }
}

const base = new URL(BASE);
const outside = requests.filter((u) => {
  if (u.startsWith('blob:') || u.startsWith('data:')) return false;
  const h = new URL(u);
  return h.hostname !== base.hostname;
});
if (outside.length) {
  failed++;
  console.log(`FAIL no request leaves localhost: ${outside.slice(0, 5).join(', ')}`);
} else {
  console.log(`ok   no request leaves localhost (${requests.length} requests, all to ${base.host})`);
}

if (bench.wasm) {
  const lines = [
    '# Web benchmarks (tests/web/test.mjs, headless Debian Chromium)',
    '',
    `- wasm (www/pkg/msf_web_bg.wasm): ${bench.wasm.raw} bytes raw, ${bench.wasm.gzip} bytes gzip -9; JS glue ${bench.wasm.js} bytes`,
    '',
    'Drop to plan shown: a File dropped on the page (DragEvent with a DataTransfer) until the new report is on screen',
    '(read, import, fusion DAG, Pareto sweep and least-compute plan within the default board\'s 512 KiB, SVGs, DOM), median of 3 (min..max).',
    '',
    '| model | file bytes | drop to plan shown, ms (min..max) | peak RAM (B, I/O incl.) | stages | error |',
    '|---|---:|---:|---:|---:|---|',
    ...bench.drops.map((d) => `| ${d.file} | ${d.bytes} | ${d.ms.toFixed(0)} (${d.min.toFixed(0)}..${d.max.toFixed(0)}) | ${d.peak ?? ''} | ${d.stages ?? ''} | ${d.error ?? ''} |`),
    '',
  ];
  writeFileSync(join(ART, 'web-bench.md'), lines.join('\n'));
  console.log(lines.join('\n'));
}

await browser.close();
console.log(failed ? `${failed} web test(s) failed` : 'all web tests passed');
process.exit(failed ? 1 : 0);
