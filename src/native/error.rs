//! libtorch's error texts: the reason comes first, then "Exception raised from ..." and a
//! C++ stack that users do not need. One place cuts them, for every caller.

/// The reason of a libtorch message: its first paragraph (a TorchScript compiler error
/// starts with a blank line, then the reason and the source line at fault), without the
/// C++ backtrace.
pub fn libtorch_reason(message: &str) -> &str {
    let cut = message
        .find("Exception raised from")
        .unwrap_or(message.len());
    let text = message[..cut].trim_start();
    let end = text.find("\n\n").unwrap_or(text.len());
    text[..end].trim_end()
}

/// A whole error chain as printed (`{:#}`), with any libtorch backtrace in it removed.
pub fn without_backtrace(message: &str) -> String {
    let cut = message
        .find("Exception raised from")
        .unwrap_or(message.len());
    message[..cut].trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_kept_and_the_cpp_stack_dropped() {
        let text =
            "shape mismatch: [2] vs [3]\nException raised from check at x.cpp:1\nframe #0: f";
        assert_eq!(libtorch_reason(text), "shape mismatch: [2] vs [3]");
        assert_eq!(without_backtrace(text), "shape mismatch: [2] vs [3]");
        let chain = "cannot write w.safetensors: open failed Exception raised from save";
        assert_eq!(
            without_backtrace(chain),
            "cannot write w.safetensors: open failed"
        );
        assert_eq!(libtorch_reason("plain"), "plain");
        assert_eq!(
            libtorch_reason("\nundefined value m:\n  line 3\n\nmore"),
            "undefined value m:\n  line 3"
        );
    }
}
