//! Parsing of Kubernetes resource quantities (`512Mi`, `2Gi`, `1.5G`, `1000`) into bytes,
//! which the operator needs to keep the executor's cache budget below an emptyDir's limit.

/// A quantity the operator cannot turn into bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a byte quantity: use a number with an optional suffix such as 512Mi, 2Gi or 1G"
)]
pub struct QuantityError(pub String);

impl QuantityError {
    /// Bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        "quantity"
    }
}

/// Bytes in `q`, rounded down.
pub fn parse_bytes(q: &str) -> Result<u64, QuantityError> {
    let err = || QuantityError(q.to_string());
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let multiplier: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        _ => return Err(err()),
    };
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() || frac.contains('.') || (number.contains('.') && frac.is_empty()) {
        return Err(err());
    }
    let whole: u64 = whole.parse().map_err(|_| err())?;
    let bytes = whole.checked_mul(multiplier).ok_or_else(err)?;
    // The fraction is scaled in 128-bit integers so `1.5Gi` is exact.
    let digits: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| err())?
    };
    let scale = 10u128.checked_pow(frac.len() as u32).ok_or_else(err)?;
    let extra = u64::try_from(digits * u128::from(multiplier) / scale).map_err(|_| err())?;
    let bytes = bytes.checked_add(extra).ok_or_else(err)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_suffixes() {
        assert_eq!(parse_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(parse_bytes("512Mi"), Ok(512 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("1500"), Ok(1500));
        assert_eq!(parse_bytes("1.5Gi"), Ok(3 << 29));
        assert_eq!(parse_bytes("10k"), Ok(10_000));
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in [
            "",
            "Gi",
            "1.Gi",
            "1..5Gi",
            "1Xi",
            "-1Gi",
            "1e3",
            "99999999999Ei",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad} should be rejected");
        }
    }
}
