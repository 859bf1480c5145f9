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
            let quiet = QUIET.with(Cell::get);
            if !quiet && text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
                // The reader went away (`sim explore | head`): stop as a process killed by SIGPIPE would.
                std::process::exit(141);
            }
            LAST.with(|last| *last.borrow_mut() = Some(format!("{text}{location}")));
            if !quiet {
                default(info);
            }
        }));
    });
}

/// Installs the hook for the whole process: besides recording panics, it ends the process quietly when the
/// CLI's standard output is a pipe whose reader has gone.
pub fn install_for_cli() {
    install();
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
