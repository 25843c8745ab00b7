//! Agent text made safe to show a reviewer: invisible and direction-changing characters are
//! written out as `<U+XXXX>`, so `Rotate key \u{202E}gnp.exe` cannot pass for `…exe.png`.
//!
//! Every renderer (Slack blocks, email subject and bodies, confirmation pages) runs agent
//! text through [`reveal`] before its own escaping; the stored request keeps the original.

use std::borrow::Cow;

/// Whether `c` would change how the text around it reads without being seen itself:
/// bidi controls, zero-width characters, and the other format (Cf) characters
/// that have no visible glyph, plus the Hangul fillers that render as blanks.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // Arabic letter mark
        | '\u{115F}' | '\u{1160}'       // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'       // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}'       // Mongolian selectors and vowel separator
        | '\u{200B}'..='\u{200F}'       // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
        | '\u{2066}'..='\u{206F}'       // bidi isolates, deprecated format characters
        | '\u{3164}' | '\u{FFA0}'       // Hangul fillers
        | '\u{FEFF}'                    // zero-width no-break space (BOM)
        | '\u{FFF9}'..='\u{FFFB}'       // interlinear annotation
        | '\u{1BCA0}'..='\u{1BCA3}'     // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}'     // musical format controls
        | '\u{E0000}'..='\u{E0FFF}' // tag characters and variation selectors supplement
    )
}

/// `<U+202E>`: how a hidden character is shown.
pub fn escaped(c: char) -> String {
    format!("<U+{:04X}>", c as u32)
}

/// `s` with every hidden character written out; borrowed when there is none (the usual case).
pub fn reveal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_hidden(c) {
            out.push_str(&escaped(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Every string inside a JSON value revealed (keys too), for template contexts.
pub fn reveal_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(r) = reveal(s) {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(reveal_json),
        Value::Object(map) => {
            if map.keys().any(|k| k.chars().any(is_hidden)) {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    reveal_json(&mut v);
                    map.insert(reveal(&k).into_owned(), v);
                }
            } else {
                map.values_mut().for_each(reveal_json);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_zero_width_characters_are_written_out() {
        assert_eq!(
            reveal("Rotate key \u{202E}gnp.exe\u{202C}"),
            "Rotate key <U+202E>gnp.exe<U+202C>"
        );
        for c in [
            '\u{202A}',
            '\u{202B}',
            '\u{202D}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            assert!(is_hidden(c), "{:04X}", c as u32);
            assert!(!reveal(&format!("a{c}b")).chars().any(is_hidden));
        }
        assert_eq!(reveal("a\u{E0041}"), "a<U+E0041>");
    }

    #[test]
    fn ordinary_text_is_untouched_and_borrowed() {
        for s in [
            "plain",
            "Grüße 😀 日本語 עברית عربي",
            "tab\tand\nnewline",
            "",
        ] {
            assert!(matches!(reveal(s), Cow::Borrowed(x) if x == s));
        }
    }

    #[test]
    fn json_strings_and_keys_are_revealed() {
        let mut v = serde_json::json!({"a\u{200B}": ["x\u{202E}y", 1, {"k": "\u{FEFF}"}]});
        reveal_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a<U+200B>": ["x<U+202E>y", 1, {"k": "<U+FEFF>"}]})
        );
    }
}
