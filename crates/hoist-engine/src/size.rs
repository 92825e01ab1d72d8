//! Sizes as podman, docker, runc and umoci's users write them: `64m`, `1G`, `512mb`, `1.5g`,
//! `1GiB`, `100b` (binary units, as docker's `RAMInBytes` reads them).

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("unknown size unit {0:?} (use k, m, g, t or p, optionally followed by b or ib)")]
    UnknownSuffix(String),
    #[error("{0:?} is not a size")]
    NotASize(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Bytes from a number (whole, or with a fraction) and an optional binary unit: k, m, g, t or
/// p, each optionally followed by `b` or `ib`; case does not matter.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let unit_at = lower
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(unit_at);
    let shift = match unit {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => return Err(SizeError::UnknownSuffix(text[unit_at..].to_string())),
    };
    let not_a_size = || SizeError::NotASize(text.to_string());
    if number.contains('.') {
        let value: f64 = number.parse().map_err(|_| not_a_size())?;
        let bytes = value * (1u64 << shift) as f64;
        if !bytes.is_finite() || bytes < 0.0 {
            return Err(not_a_size());
        }
        if bytes >= u64::MAX as f64 {
            return Err(SizeError::TooLarge(text.to_string()));
        }
        return Ok(bytes.round() as u64);
    }
    let number: u64 = number.parse().map_err(|_| not_a_size())?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_dockers() {
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("10KB"), Ok(10 << 10));
        assert_eq!(parse_size("100b"), Ok(100));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2mib"), Ok(2 << 20));
        assert!(parse_size("b").is_err());
        assert!(parse_size("-1.5g").is_err());
        assert!(parse_size("1.2.3m").is_err());
        assert_eq!(parse_size("1X"), Err(SizeError::UnknownSuffix("X".into())));
        assert!(matches!(
            parse_size("99999999999T"),
            Err(SizeError::TooLarge(_))
        ));
    }
}
