//! Small statistics for the review and the plan: confidence intervals.
//!
//! A *Wilson score interval* bounds a share `k / n` at 95% confidence. It is
//! used rather than the normal ("Wald") interval `p ± z·sqrt(p(1-p)/n)`
//! because the weekly samples are small: the Wald interval collapses to a
//! point at 0% or 100% and can leave 0..1, while Wilson's stays inside and
//! keeps a width that reflects `n` (Wilson, 1927; Brown, Cai and DasGupta,
//! 2001, recommend it for small `n`).

use serde::Serialize;

/// The 97.5th percentile of the standard normal distribution, for
/// two-sided 95% intervals.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A closed interval of a share or an amount.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The 95% Wilson score interval of `k` successes in `n` trials; `None`
/// when `n` is 0 (or `k > n`, which is no share).
pub fn wilson(k: u32, n: u32) -> Option<Interval> {
    if n == 0 || k > n {
        return None;
    }
    let (k, n, z) = (f64::from(k), f64::from(n), Z95);
    let p = k / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // Clamp the rounding at the ends (k = 0 gives a low of -1e-17).
    Some(Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// The 95% normal interval of the mean of `values`: mean ± z·s/√n with the
/// sample standard deviation `s`; `None` for fewer than two values.
pub fn mean_interval(values: &[f64]) -> Option<Interval> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = Z95 * (var / n as f64).sqrt();
    Some(Interval {
        low: mean - half,
        high: mean + half,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_of_four_in_ten() {
        // p = 0.4, z² = 3.8415: centre = (0.4 + 0.19207) / 1.38415 =
        // 0.42775; half = (1.96 / 1.38415) · sqrt(0.024 + 0.0096037) =
        // 1.41600 · 0.18331 = 0.25957: 0.16818 to 0.68732.
        let i = wilson(4, 10).unwrap();
        assert!((i.low - 0.168_18).abs() < 1e-4, "{i:?}");
        assert!((i.high - 0.687_32).abs() < 1e-4, "{i:?}");
    }

    #[test]
    fn wilson_at_the_ends_stays_inside_and_keeps_width() {
        // k = 0, n = 5: low 0; high = z²/n / (1 + z²/n) = 0.76830 / 1.76830
        // = 0.43449.
        let i = wilson(0, 5).unwrap();
        assert_eq!(i.low, 0.0);
        assert!((i.high - 0.434_49).abs() < 1e-4, "{i:?}");
        let j = wilson(5, 5).unwrap();
        assert!(
            (j.low - (1.0 - 0.434_49)).abs() < 1e-4 && j.high == 1.0,
            "{j:?}"
        );
        assert!(wilson(0, 0).is_none() && wilson(3, 2).is_none());
    }

    #[test]
    fn mean_interval_of_three_values() {
        // 100, 200, 300: mean 200, s = 100, half = 1.96 · 100 / sqrt(3) =
        // 113.16.
        let i = mean_interval(&[100.0, 200.0, 300.0]).unwrap();
        assert!(
            (i.low - 86.84).abs() < 0.01 && (i.high - 313.16).abs() < 0.01,
            "{i:?}"
        );
        assert!(mean_interval(&[1.0]).is_none());
    }
}
