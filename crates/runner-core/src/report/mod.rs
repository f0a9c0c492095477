//! Turning store records into what people and tools read: run lists, one run in detail,
//! comparisons and plots.

pub mod compare;
pub mod compare_format;
pub mod inspect;
pub mod plot;
pub mod runs;
pub mod select;
pub mod tensorboard;

pub use runs::{run_json, run_text, runs_json, runs_table};

/// Text from the store (or a shared folder) as a terminal may show it: control
/// characters and bidirectional overrides become visible escapes (`\x1b`, `\n`,
/// `\u{202e}`), so a pipeline name, a parameter or a reason cannot move the cursor,
/// recolor or retitle the terminal, or reorder what follows it. JSON and CSV output keep
/// the text exact.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Characters that change the direction of the text after them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::escape_text;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(escape_text("cats_dogs 0.5 ±"), "cats_dogs 0.5 ±");
        assert_eq!(
            escape_text("\x1b]0;owned\x07\x1b[2Jname\r\n\u{9b}\u{202e}"),
            "\\x1b]0;owned\\x07\\x1b[2Jname\\r\\n\\u{9b}\\u{202e}"
        );
    }
}
