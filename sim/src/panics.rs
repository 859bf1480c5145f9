//! Panics inside a run are failures of class `Crash`: captured with their location, printed by the CLI in its
//! own words rather than by the default hook (thousands of runs would otherwise flood the terminal).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs (once per process) a hook that records the panic message and location for this thread, and stays
/// silent while `quietly` runs.
fn install() {
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let text = payload_text(info.payload());
            LAST.with(|last| *last.borrow_mut() = Some(format!("{text}{location}")));
            if !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// Runs `f` with panics recorded instead of printed.
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    install();
    let before = QUIET.with(|quiet| quiet.replace(true));
    let result = f();
    QUIET.with(|quiet| quiet.set(before));
    result
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// The message of a caught panic, with its location when the hook saw it.
pub fn message(payload: &(dyn Any + Send)) -> String {
    LAST.with(|last| last.borrow_mut().take()).unwrap_or_else(|| payload_text(payload))
}
