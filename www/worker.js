// The planner's module worker: owns the wasm instance and the loaded model, so planning a big
// model never freezes the page. Messages in: {id, cmd, ...}; out: {id, result} | {id, error} |
// {id, progress: {stage, frac}}. A failed load keeps the previous model.
//
// An error the planner returns (a bad file, an impossible budget) is an ordinary {id, error}.
// A wasm trap (a panic, `unreachable`, out of memory) or a wasm stack overflow leaves the
// instance unusable: {id, error, fatal: true}, and the page (app.js) replaces this worker.
import init, { Planner, boards, version, last_panic } from './pkg/msf_web.js';

const ready = init({ module_or_path: new URL('./pkg/msf_web_bg.wasm', import.meta.url) });
let planner = null;

// Test hooks (tests/web/test.mjs, through the page's `?test-hooks`): ways for this worker to
// die, so the page's recovery is tested. Harmless in production: only this page can message
// its own worker, and each one only breaks this worker, which the page replaces.
async function crash(how) {
  switch (how) {
    case 'trap': {
      // A real trap in the real module: wasm-bindgen's allocator refuses a 4 GiB request and
      // aborts (wasm `unreachable`), as a Rust panic or an allocation failure would.
      const wasm = await ready;
      wasm.__wbindgen_malloc(-16, 1);
      throw new Error('test hook: the trap did not happen');
    }
    case 'throw':
      // An uncaught exception outside any message handler: the page's worker.onerror.
      setTimeout(() => {
        throw new Error('test hook: the worker threw');
      });
      return new Promise(() => {});
    case 'hang':
      // Busy forever: no reply, no progress; the page's watchdog.
      for (;;);
    case 'exit':
      // Gone without an error event: the page's watchdog too.
      self.close();
      return new Promise(() => {});
    default:
      throw new Error(`unknown crash ${how}`);
  }
}

function need() {
  if (!planner) throw new Error('no model loaded yet');
  return planner;
}

self.onmessage = async (e) => {
  const { id, cmd } = e.data;
  const progress = (stage, frac) => self.postMessage({ id, progress: { stage, frac } });
  try {
    await ready;
    let result;
    switch (cmd) {
      case 'hello':
        result = { boards: JSON.parse(boards()), version: version() };
        break;
      case 'load': {
        progress('reading the model', 0.02);
        const p = new Planner(new Uint8Array(e.data.bytes), e.data.name);
        let report;
        try {
          report = JSON.parse(p.plan(JSON.stringify(e.data.options), progress));
        } catch (err) {
          p.free();
          throw err;
        }
        if (planner) planner.free();
        planner = p;
        result = report;
        break;
      }
      case 'plan':
        result = JSON.parse(need().plan(JSON.stringify(e.data.options), progress));
        break;
      case 'select':
        result = JSON.parse(need().select_point(e.data.index, progress));
        break;
      case 'stage':
        result = JSON.parse(need().stage(e.data.index));
        break;
      case 'test-crash':
        result = await crash(e.data.how);
        break;
      case 'zip': {
        const bytes = need().project_zip(e.data.board);
        self.postMessage({ id, result: bytes }, [bytes.buffer]);
        return;
      }
      default:
        throw new Error(`unknown command ${cmd}`);
    }
    self.postMessage({ id, result });
  } catch (err) {
    // A wasm trap or a stack overflow inside wasm (RangeError: the Rust stack pointer is left
    // mid-frame) leaves the instance unusable: tell the page to start a fresh worker.
    const fatal = err instanceof WebAssembly.RuntimeError || err instanceof RangeError;
    let message = (err && err.message) || String(err);
    if (fatal) {
      let why = '';
      try {
        why = last_panic();
      } catch {}
      message = `internal error in the planner (please report it with the model): ${why || message}`;
    }
    self.postMessage({ id, error: message, fatal });
  }
};
