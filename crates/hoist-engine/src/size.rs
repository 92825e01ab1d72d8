//! Sizes as podman, runc and umoci's users write them: `64m`, `1G`, `512mb`, `100b`.

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("unknown size suffix {0:?} (use K, M, G or T)")]
    UnknownSuffix(char),
    #[error("{0:?} is not a size")]
    NotASize(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Bytes from a number with an optional binary suffix (K, M, G, T, each optionally followed by
/// B; case does not matter).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let text = match text.strip_suffix(['b', 'B']) {
        Some(rest) if rest.ends_with(|c: char| c.is_ascii_digit() || "kKmMgGtT".contains(c)) => {
            rest
        }
        _ => text,
    };
    let (number, shift) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(SizeError::UnknownSuffix(c)),
            };
            (&text[..i], shift)
        }
        _ => (text, 0),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| SizeError::NotASize(text.to_string()))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_size("10KB"), Ok(10 << 10));
        assert_eq!(parse_size("100b"), Ok(100));
        assert!(parse_size("b").is_err());
        assert_eq!(parse_size("1X"), Err(SizeError::UnknownSuffix('X')));
        assert!(matches!(
            parse_size("99999999999T"),
            Err(SizeError::TooLarge(_))
        ));
    }
}
