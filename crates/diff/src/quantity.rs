//! Kubernetes resource quantities ("500m", "1Gi", "2e3"), compared exactly.
//!
//! The API server rewrites quantities into canonical form ("0.5" becomes
//! "500m", "1024Mi" becomes "1Gi"), so a desired manifest and the live object
//! may spell the same amount differently.

use serde_json::Value;

/// An exact quantity: `sign * odd * 2^twos * 5^fives`, where `odd` has no
/// factor 2 or 5. Every decimal or binary-suffixed amount has exactly one such
/// form, so equality of the fields is equality of the amounts, with no
/// rounding and no overflow from large exponents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quantity {
    negative: bool,
    odd: u128,
    twos: i64,
    fives: i64,
}

impl Quantity {
    /// Parses Kubernetes quantity syntax: sign, decimal number, then one of
    /// a binary suffix (Ki..Ei), a decimal SI suffix (n, u, m, k, M, G, T, P, E)
    /// or a decimal exponent (e3, E-2). Returns `None` for anything else.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let number_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let (number, suffix) = rest.split_at(number_len);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return None;
        }
        let (twos, tens) = suffix_exponents(suffix)?;
        let mut mantissa: u128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
        }
        let frac_len = i64::try_from(frac_part.len()).ok()?;
        Some(Self::from_parts(negative, mantissa, twos, tens.checked_sub(frac_len)?))
    }

    /// Builds the canonical form of `mantissa * 2^twos * 10^tens`.
    fn from_parts(negative: bool, mut mantissa: u128, mut twos: i64, tens: i64) -> Self {
        if mantissa == 0 {
            return Self { negative: false, odd: 0, twos: 0, fives: 0 };
        }
        twos += tens;
        let mut fives = tens;
        while mantissa.is_multiple_of(2) {
            mantissa /= 2;
            twos += 1;
        }
        while mantissa.is_multiple_of(5) {
            mantissa /= 5;
            fives += 1;
        }
        Self { negative, odd: mantissa, twos, fives }
    }

    /// The quantity a JSON value denotes: a quantity string, or a plain
    /// number (manifests often write `cpu: 1`).
    pub(crate) fn of(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) => Self::parse(s),
            Value::Number(n) => Self::parse(&n.to_string()),
            _ => None,
        }
    }
}

/// Exponents of 2 and 10 that a suffix contributes.
fn suffix_exponents(suffix: &str) -> Option<(i64, i64)> {
    Some(match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (0, exp.parse::<i64>().ok()?)
        }
    })
}

/// Whether a field at this place holds a quantity in Kubernetes' built-in
/// types: the entries of resources.limits/requests, ResourceQuota hard/used,
/// node capacity/allocatable, LimitRange bounds, pod overhead, and
/// emptyDir sizeLimit. `parent` is the key of the enclosing map.
pub(crate) fn is_quantity_place(parent: Option<&str>, key: Option<&str>) -> bool {
    const PARENTS: &[&str] = &[
        "limits",
        "requests",
        "hard",
        "used",
        "capacity",
        "allocatable",
        "max",
        "min",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
        "overhead",
        "podFixed",
    ];
    key == Some("sizeLimit") || parent.is_some_and(|p| PARENTS.contains(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn equal_amounts_in_different_spellings() {
        assert_eq!(q("500m"), q("0.5"));
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("0"), q("0m"));
        assert_eq!(q("-0"), q("0"));
        assert_eq!(q("+2"), q("2000m"));
        assert_eq!(q(".5"), q("500m"));
        assert_eq!(q("129e6"), q("129M"));
    }

    #[test]
    fn different_amounts() {
        assert_ne!(q("1G"), q("1Gi"));
        assert_ne!(q("100m"), q("1"));
        assert_ne!(q("-1"), q("1"));
        assert_ne!(q("128974848"), q("129e6"));
    }

    #[test]
    fn rejects_non_quantities() {
        for s in ["", "abc", "1.2.3", "1Xi", "1e", "e3", "--1", "1 Gi", "."] {
            assert!(Quantity::parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn numbers_are_quantities() {
        assert_eq!(Quantity::of(&serde_json::json!(1)), Some(q("1000m")));
        assert_eq!(Quantity::of(&serde_json::json!(0.25)), Some(q("250m")));
    }
}
