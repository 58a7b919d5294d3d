//! Display names: what a person is called in hellos, invites and comments.

/// Most characters in a display name.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a display name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing but white space.
    #[error("a name cannot be empty")]
    Empty,
    /// Over [`MAX_NAME_CHARS`] characters.
    #[error("a name has at most 64 characters")]
    TooLong,
    /// A control character.
    #[error("a name cannot hold control characters")]
    Control,
}

/// Checks a display name: 1–64 characters after trimming, no control characters; returns it
/// trimmed.
pub fn validate_name(name: &str) -> Result<String, NameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_held_to_64_characters_without_controls() {
        assert_eq!(validate_name("  Rose "), Ok("Rose".to_string()));
        assert_eq!(validate_name(" \t "), Err(NameError::Empty));
        assert_eq!(validate_name(&"é".repeat(64)), Ok("é".repeat(64)));
        assert_eq!(validate_name(&"a".repeat(65)), Err(NameError::TooLong));
        assert_eq!(validate_name("a\u{7}b"), Err(NameError::Control));
    }
}
