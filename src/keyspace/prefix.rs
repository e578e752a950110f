//! The tool's Redis namespace (`--key-prefix`): everything it stores lives under the prefix,
//! so it can be found and removed with SCAN + UNLINK without touching anyone else's keys
//! (never KEYS, never FLUSHDB).

use anyhow::{Result, bail};

/// A validated `--key-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            bail!(
                "--key-prefix must not be empty: an empty namespace would be every key in the database"
            );
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("--key-prefix {raw:?} must not contain spaces or control characters");
        }
        // On a cluster the first {...} in a key picks its slot: braces in the prefix would put
        // every key in one slot, or split keys that must share one (the queue's, a cache
        // value's and its version).
        if raw.contains(['{', '}']) {
            bail!("--key-prefix {raw:?} must not contain braces: they are Redis Cluster hash tags");
        }
        Ok(Self(raw.to_string()))
    }

    /// A namespace inside this one (`cb:` + `sim:7:` = `cb:sim:7:`), checked like any prefix.
    pub fn child(&self, suffix: &str) -> Result<Self> {
        Self::parse(&format!("{}{suffix}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A SCAN MATCH pattern for every key under the prefix, glob characters escaped.
    pub(super) fn pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 1);
        for c in self.0.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(KeyPrefix::parse("cb:").unwrap().pattern(), "cb:*");
        assert_eq!(
            KeyPrefix::parse("a*b?[c]\\").unwrap().pattern(),
            "a\\*b\\?\\[c\\]\\\\*"
        );
    }

    #[test]
    fn empty_or_blank_prefixes_are_refused() {
        assert!(
            KeyPrefix::parse("")
                .unwrap_err()
                .to_string()
                .contains("every key")
        );
        assert!(KeyPrefix::parse("a b").is_err());
    }
}
