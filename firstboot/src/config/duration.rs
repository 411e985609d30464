//! Go-style durations (`4m0s`, `8760h0m0s`, `500ms`) as kubeadm's config API writes them.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration that parses and prints like Go's `time.Duration` (`metav1.Duration` in YAML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        GoDuration(Duration::from_secs(secs))
    }

    /// The wrapped [`Duration`].
    pub fn as_duration(&self) -> Duration {
        self.0
    }

    /// Parses Go's duration syntax: a sequence of decimal numbers with unit suffixes
    /// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (e.g. `1h30m`, `1.5s`, `0`). Negative values are rejected.
    pub fn parse(s: &str) -> Result<Self, String> {
        let orig = s;
        let s = s.trim();
        if s.is_empty() {
            return Err(format!("invalid duration {orig:?}: empty"));
        }
        if s == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if s.starts_with('-') {
            return Err(format!("invalid duration {orig:?}: must not be negative"));
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        let mut total: f64 = 0.0;
        let mut rest = s;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 {
                return Err(format!("invalid duration {orig:?}: expected a number"));
            }
            let num: f64 = rest[..num_len]
                .parse()
                .map_err(|_| format!("invalid duration {orig:?}: bad number"))?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let nanos_per = match unit {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(format!("invalid duration {orig:?}: missing unit")),
                other => return Err(format!("invalid duration {orig:?}: unknown unit {other:?}")),
            };
            total += num * nanos_per;
        }
        Ok(GoDuration(Duration::from_nanos(total.round() as u64)))
    }
}

impl fmt::Display for GoDuration {
    /// Formats like Go's `Duration.String()`: `0s`, `500ms`, `1.5s`, `4m0s`, `8760h0m0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            let (unit, div) = if nanos < 1_000 {
                ("ns", 1u128)
            } else if nanos < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{}{}", frac(nanos, div), unit);
        }
        let total_secs = nanos / 1_000_000_000;
        let sub = nanos % 1_000_000_000;
        let h = total_secs / 3600;
        let m = (total_secs % 3600) / 60;
        let s = total_secs % 60;
        let secs = frac(s * 1_000_000_000 + sub, 1_000_000_000);
        if h > 0 {
            write!(f, "{h}h{m}m{secs}s")
        } else if m > 0 {
            write!(f, "{m}m{secs}s")
        } else {
            write!(f, "{secs}s")
        }
    }
}

/// `value / div` with the fractional part printed without trailing zeros.
fn frac(value: u128, div: u128) -> String {
    let whole = value / div;
    let rem = value % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        GoDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        let cases = [
            (Duration::from_secs(240), "4m0s"),
            (Duration::from_secs(8760 * 3600), "8760h0m0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::ZERO, "0s"),
            (Duration::from_secs(3661), "1h1m1s"),
        ];
        for (d, want) in cases {
            assert_eq!(GoDuration(d).to_string(), want);
        }
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(GoDuration::parse("4m").unwrap(), GoDuration::from_secs(240));
        assert_eq!(
            GoDuration::parse("1h30m").unwrap(),
            GoDuration::from_secs(5400)
        );
        assert_eq!(
            GoDuration::parse("1.5h").unwrap(),
            GoDuration::from_secs(5400)
        );
        assert_eq!(
            GoDuration::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(GoDuration::parse("0").unwrap().0, Duration::ZERO);
        assert!(GoDuration::parse("4").is_err());
        assert!(GoDuration::parse("4x").is_err());
        assert!(GoDuration::parse("-1s").is_err());
        assert!(GoDuration::parse("").is_err());
    }
}
