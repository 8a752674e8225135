//! Text for messages: an error with its sources, text cut on a char
//! boundary, secrets scrubbed out of what a server said.

/// An error and its sources, `: `-separated, leaving out a source whose
/// message the chain already holds: reqwest hides the cause ("Connection
/// refused") in its sources, while a `thiserror` message often embeds its
/// source, which would otherwise be printed twice.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// The longest start of `s` of at most `max` bytes that ends on a char
/// boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `message` with each non-empty one of `secrets`, in order, replaced by
/// `<redacted>`.
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut s = message.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        s = s.replace(secret, "<redacted>");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {source}")]
    struct Outer {
        source: Inner,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read the collection description: missing field `value`")]
    struct Inner {
        source: std::io::Error,
    }

    #[test]
    fn a_chain_never_repeats_a_message() {
        let e = Outer {
            source: Inner {
                source: std::io::Error::other("Connection refused"),
            },
        };
        assert_eq!(
            error_chain(&e),
            "outer: cannot read the collection description: missing field `value`: Connection refused"
        );
        let io = std::io::Error::other("alone");
        assert_eq!(error_chain(&io), "alone");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("ééé", 1), "");
    }

    #[test]
    fn secrets_are_scrubbed() {
        assert_eq!(
            scrub("token root:pw and pw", &["root:pw", "pw"]),
            "token <redacted> and <redacted>"
        );
        assert_eq!(scrub("nothing", &[""]), "nothing");
    }
}
