//! msf-web: the planner in the browser. A thin wasm-bindgen layer over [`session::Session`]:
//! bytes in; JSON reports, SVG views and zip bytes out.
//!
//! Nothing here may panic (on wasm32 a panic aborts the instance and the page loses its worker):
//! every input is validated and every failure is returned as a JS `Error` with a readable
//! message. The views are pure functions in [`views`], tested natively.

pub mod adapt;
pub mod baseline;
pub mod boards;
pub mod planview;
pub mod session;
pub mod views;

#[cfg(test)]
mod testgraph;

use wasm_bindgen::prelude::*;

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, JsError> {
    serde_json::to_string(v).map_err(|e| JsError::new(&format!("internal: cannot encode the result: {e}")))
}

/// Call `f(stage, fraction)` if JS passed a function; errors from it are ignored (progress is
/// advisory).
fn progress_fn(cb: &Option<js_sys::Function>) -> impl FnMut(&str, f64) + '_ {
    move |what: &str, frac: f64| {
        if let Some(f) = cb {
            let _ = f.call2(&JsValue::NULL, &JsValue::from_str(what), &JsValue::from_f64(frac));
        }
    }
}

/// The board catalogue as JSON: `[{id, name, core, ram, flash, clock_hz, cycles_per_mac}]`.
#[wasm_bindgen]
pub fn boards() -> Result<String, JsError> {
    to_json(&boards::all())
}

/// The message of the last panic, if one happened (there should be none: see the crate docs).
/// On wasm32 a panic aborts with a trap; the worker reads this afterwards to tell the person
/// what went wrong, then starts a fresh instance.
static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut m) = LAST_PANIC.lock() {
            *m = info.to_string();
        }
    }));
}

#[wasm_bindgen]
pub fn last_panic() -> String {
    LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default()
}

/// Crate version, shown in the page footer.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A loaded model and its current plan.
#[wasm_bindgen]
pub struct Planner {
    inner: session::Session,
}

#[wasm_bindgen]
impl Planner {
    /// Import a .tflite or .onnx file from its bytes. Throws with the importer's message.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], name: &str) -> Result<Planner, JsError> {
        session::Session::load(bytes, name).map(|inner| Planner { inner }).map_err(|e| JsError::new(&e))
    }

    /// Plan with options JSON `{board?, ram_budget?, max_overhead?}`; returns the report JSON.
    /// `progress(stage, fraction)` is called as work advances.
    pub fn plan(&mut self, options: &str, progress: Option<js_sys::Function>) -> Result<String, JsError> {
        let opts = session::Options::parse(options).map_err(|e| JsError::new(&e))?;
        let mut p = progress_fn(&progress);
        let r = self.inner.plan(opts, &mut p).map_err(|e| JsError::new(&e))?;
        to_json(&r)
    }

    /// Make Pareto point `i` the current plan; returns the report JSON.
    pub fn select_point(&mut self, i: usize, progress: Option<js_sys::Function>) -> Result<String, JsError> {
        let mut p = progress_fn(&progress);
        let r = self.inner.select_point(i, &mut p).map_err(|e| JsError::new(&e))?;
        to_json(&r)
    }

    /// Details of stage `k` (0-based) of the current plan, JSON with its SVGs.
    pub fn stage(&self, k: usize) -> Result<String, JsError> {
        to_json(&self.inner.stage(k).map_err(|e| JsError::new(&e))?)
    }

    /// The zipped firmware project for `board`.
    pub fn project_zip(&self, board: &str) -> Result<Vec<u8>, JsError> {
        self.inner.project_zip(board).map_err(|e| JsError::new(&e))
    }
}
