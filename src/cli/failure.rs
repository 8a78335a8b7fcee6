//! How a command's failure reaches the user: the error chain without libtorch's C++ stack,
//! the exit status of a stop by a signal, and panics. tch's infallible calls panic on
//! libtorch's errors (an allocation that an absurd configuration asks for): those are
//! reported as "libtorch failed: ...", like any other error. Any other panic is a bug in
//! tch-vae itself and is reported as an internal error with its source location.
use std::panic::Location;
use std::process::ExitCode;
use std::sync::Mutex;
use tch_vae::commands::Interrupted;
use tch_vae::native::error::without_backtrace;

/// Where the last panic happened (file:line:column), recorded by the panic hook.
static LOCATION: Mutex<Option<String>> = Mutex::new(None);

/// Runs `command`, turning a panic into an error (without Rust's panic banner or
/// libtorch's C++ backtrace on the terminal).
pub fn catch(command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(Location::to_string);
        *LOCATION.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }));
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(command)).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        let location = LOCATION.lock().unwrap_or_else(|e| e.into_inner()).take();
        Err(anyhow::anyhow!(describe(text, location.as_deref())))
    })
}

/// The message of a panic with `text` at `location`.
fn describe(text: &str, location: Option<&str>) -> String {
    let location = location.unwrap_or("an unknown place");
    if is_libtorch(text, location) {
        format!("libtorch failed: {text}")
    } else {
        format!(
            "internal error at {location}: {text}. This is a bug in tch-vae: please report it \
             with the command that caused it"
        )
    }
}

/// Whether a panic carries one of libtorch's errors: tch unwraps them (`Torch("...")`) in
/// its own source.
fn is_libtorch(text: &str, location: &str) -> bool {
    text.contains("Torch(") || location.contains("/tch-") || location.contains("/torch-sys-")
}

/// The exit status of `outcome`, with its error printed: 0, a stop by a signal's own
/// status, or 1.
pub fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Interrupted>() {
            Some(stopped) => {
                eprintln!("{stopped}");
                ExitCode::from(stopped.stop.exit_code())
            }
            None => {
                eprintln!("error: {}", without_backtrace(&format!("{e:#}")));
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bug_names_its_place_and_libtorch_keeps_its_name() {
        let bug = catch(|| {
            let v: Vec<u8> = Vec::new();
            let _ = v[usize::from(v.is_empty())];
            Ok(())
        });
        let text = format!("{:#}", bug.unwrap_err());
        assert!(
            text.starts_with("internal error at src/cli/failure.rs:"),
            "{text}"
        );
        assert!(text.contains("index out of bounds"), "{text}");
        let torch = catch(|| {
            let _ = tch::Tensor::zeros([2], tch::kind::FLOAT_CPU).view([3]);
            Ok(())
        });
        let text = format!("{:#}", torch.unwrap_err());
        assert!(text.starts_with("libtorch failed: "), "{text}");
        assert!(text.contains("shape '[3]' is invalid"), "{text}");
    }
}
