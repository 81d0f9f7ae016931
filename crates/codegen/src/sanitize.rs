//! Names that come from the user (the model's file name) end up as a Cargo package name and as
//! the zip's root folder. They are reduced to a safe alphabet so no entry can escape the project
//! folder (`../../x`), and every entry path is checked again before it is written.

/// A Cargo package name from a model name: ASCII letters, digits, `-` and `_` only; every other
/// character (including `.`, `/` and `\`) becomes `_`; lower-cased; starts with a letter; at most
/// 48 characters. Never empty.
pub fn crate_name(model: &str) -> String {
    let mut s: String = model
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    let trimmed = s.trim_matches(|c| c == '_' || c == '-').to_string();
    s = trimmed;
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "m-");
    }
    s.truncate(48);
    while s.ends_with(['-', '_']) {
        s.pop();
    }
    s
}

/// Is `p` a relative path made only of normal components (no `..`, `.`, empty segment, leading
/// `/`, backslash or drive letter)? Zip entries are checked with this before writing.
pub fn safe_entry_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.contains(':')
        && !p.contains('\0')
        && p.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names() {
        assert_eq!(crate_name("tiny_cnn_int8"), "tiny_cnn_int8");
        assert_eq!(crate_name("../../x"), "x");
        assert_eq!(crate_name("..\\..\\evil.tflite"), "evil_tflite");
        assert_eq!(crate_name("/etc/passwd"), "etc_passwd");
        assert_eq!(crate_name("9lives"), "m-9lives");
        assert_eq!(crate_name(""), "m");
        assert_eq!(crate_name("Ünïcode"), "n_code");
        assert!(crate_name(&"a".repeat(100)).len() <= 48);
    }

    #[test]
    fn entry_paths() {
        assert!(safe_entry_path("proj/src/main.rs"));
        assert!(!safe_entry_path("../x"));
        assert!(!safe_entry_path("proj/../../x"));
        assert!(!safe_entry_path("/abs"));
        assert!(!safe_entry_path("a\\b"));
        assert!(!safe_entry_path("c:/x"));
        assert!(!safe_entry_path("a//b"));
        assert!(!safe_entry_path("./a"));
        assert!(!safe_entry_path(""));
    }
}
