//! Small value grammars of the policy file: durations and targets.
//!
//! A *duration* is one or more `<number><unit>` parts with the units `d`,
//! `h`, `m` and `s` (`"4h"`, `"1h30m"`, `"14d"`). A *target* is a
//! comparison and a number, optionally a percentage (`"> 80%"`, `">= 150"`).

use std::fmt;

use serde::Serialize;

/// A parsed duration: whole days are kept apart, because "N days" means N
/// wall-clock dates, not N x 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDuration {
    pub days: u32,
    pub seconds: i64,
}

/// Parses `"4h"`, `"90m"`, `"14d"`, `"1h30m"`, `"45s"`.
///
/// The error text says what was expected, for `handoff check`.
pub fn parse_duration(text: &str) -> Result<ParsedDuration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. \"4h\", \"30m\" or \"14d\"".into());
    }
    let mut out = ParsedDuration {
        days: 0,
        seconds: 0,
    };
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "\"{text}\" is not a duration; write e.g. \"4h\", \"30m\" or \"14d\""
            ));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("\"{text}\": number too large"))?;
        rest = &rest[digits..];
        let unit = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<String>();
        rest = &rest[unit.len()..];
        match unit.as_str() {
            "d" => {
                out.days += u32::try_from(n).map_err(|_| format!("\"{text}\": too many days"))?
            }
            "h" => out.seconds += n * 3600,
            "m" => out.seconds += n * 60,
            "s" => out.seconds += n,
            "" if rest.is_empty() => {
                return Err(format!(
                    "\"{text}\" has no unit; write e.g. \"{n}h\" (units: d, h, m, s)"
                ))
            }
            // A decimal point or a space: "1.5h", "2 days".
            "" => {
                return Err(format!(
                    "\"{text}\" is not a duration; write whole numbers, each with its unit \
                     and no spaces, e.g. \"1h30m\" (units: d, h, m, s)"
                ))
            }
            other => {
                let hint = match other.to_lowercase().as_str() {
                    "h" | "hr" | "hrs" | "hour" | "hours" => format!("{n}h"),
                    "m" | "min" | "mins" | "minute" | "minutes" => format!("{n}m"),
                    "d" | "day" | "days" => format!("{n}d"),
                    "s" | "sec" | "secs" | "second" | "seconds" => format!("{n}s"),
                    "w" | "wk" | "week" | "weeks" => format!("{}d", n * 7),
                    // No telling what was meant; show the form with their number.
                    _ => format!("{n}h"),
                };
                return Err(format!(
                    "unknown unit \"{other}\" in \"{text}\"; write \"{hint}\" (units: d, h, m, s)"
                ));
            }
        }
    }
    if out.days == 0 && out.seconds == 0 {
        return Err(format!("\"{text}\" is zero; a duration must be positive"));
    }
    Ok(out)
}

/// How an actual value is compared with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
}

/// A commitment's target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Target {
    pub comparison: Comparison,
    /// A share in 0..=1 when `percent`, else a count or amount.
    pub value: f64,
    pub percent: bool,
}

impl Target {
    /// Whether `actual` meets the target.
    pub fn is_met(&self, actual: f64) -> bool {
        // Rates are computed from integer counts; a tiny tolerance keeps
        // 0.8 from failing ">= 80%" through floating-point rounding.
        const EPS: f64 = 1e-9;
        match self.comparison {
            Comparison::Above => actual > self.value + EPS,
            Comparison::AtLeast => actual >= self.value - EPS,
            Comparison::Below => actual < self.value - EPS,
            Comparison::AtMost => actual <= self.value + EPS,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.comparison {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
        };
        if self.percent {
            write!(f, "{op} {}%", trim_float(self.value * 100.0))
        } else {
            write!(f, "{op} {}", trim_float(self.value))
        }
    }
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}").trim_end_matches('0').to_string()
    }
}

/// Parses `"> 80%"`, `">= 150"`, `"<= 2"`. A bare number means `>=`.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let s = text.trim();
    let (comparison, rest) = if let Some(r) = s.strip_prefix(">=") {
        (Comparison::AtLeast, r)
    } else if let Some(r) = s.strip_prefix("<=") {
        (Comparison::AtMost, r)
    } else if let Some(r) = s.strip_prefix('>') {
        (Comparison::Above, r)
    } else if let Some(r) = s.strip_prefix('<') {
        (Comparison::Below, r)
    } else {
        (Comparison::AtLeast, s)
    };
    let (value, percent) = parse_amount(rest)
        .ok_or_else(|| format!("\"{text}\" is not a target; write e.g. \"> 80%\" or \">= 150\""))?;
    Ok(Target {
        comparison,
        value,
        percent,
    })
}

/// Parses `"75%"` (0.75, percent) or `"150"` (150, not percent).
pub fn parse_amount(text: &str) -> Option<(f64, bool)> {
    let t = text.trim().replace('_', "");
    if let Some(p) = t.strip_suffix('%') {
        let v: f64 = p.trim().parse().ok()?;
        v.is_finite().then_some((v / 100.0, true))
    } else {
        let v: f64 = t.parse().ok()?;
        v.is_finite().then_some((v, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_each_unit() {
        assert_eq!(
            parse_duration("4h").unwrap(),
            ParsedDuration {
                days: 0,
                seconds: 14_400
            }
        );
        assert_eq!(parse_duration("1h30m").unwrap().seconds, 5_400);
        assert_eq!(
            parse_duration("14d").unwrap(),
            ParsedDuration {
                days: 14,
                seconds: 0
            }
        );
        assert_eq!(parse_duration("45s").unwrap().seconds, 45);
    }

    #[test]
    fn hrs_is_rejected_with_the_fix() {
        let e = parse_duration("4hrs").unwrap_err();
        assert!(e.contains("write \"4h\""), "{e}");
        assert!(parse_duration("4").unwrap_err().contains("no unit"));
        assert!(parse_duration("0h").unwrap_err().contains("zero"));
    }

    #[test]
    fn a_bad_duration_gets_a_fix_in_its_own_terms() {
        let e = parse_duration("2H").unwrap_err();
        assert!(e.contains("write \"2h\""), "{e}");
        let e = parse_duration("3wk").unwrap_err();
        assert!(e.contains("write \"21d\""), "{e}");
        let e = parse_duration("5x").unwrap_err();
        assert!(e.contains("write \"5h\""), "{e}");
        for text in ["1.5h", "2 days"] {
            let e = parse_duration(text).unwrap_err();
            assert!(
                e.contains("whole numbers") && e.contains("\"1h30m\""),
                "{e}"
            );
        }
    }

    #[test]
    fn targets_parse_and_compare() {
        let t = parse_target("> 80%").unwrap();
        assert_eq!(t.comparison, Comparison::Above);
        assert!((t.value - 0.8).abs() < 1e-12 && t.percent);
        assert!(!t.is_met(0.8));
        assert!(t.is_met(0.81));
        let v = parse_target(">= 150").unwrap();
        assert!(v.is_met(150.0) && !v.is_met(149.0));
        assert_eq!(v.to_string(), ">= 150");
        assert_eq!(t.to_string(), "> 80%");
        assert!(parse_target("eighty").is_err());
    }
}
