//! Draws from the few distributions the generator needs.
//!
//! Every draw takes the generator's [`ChaCha8Rng`] explicitly, so the
//! sequence of draws (and with it the output) is fixed by the seed. The
//! lognormal is parameterised by its *median* and *sigma* (the standard
//! deviation of its logarithm), which is how the realistic values in the
//! other modules are stated: "first touch after a median of 50 business
//! minutes, sigma 0.9".

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A standard normal draw (Box–Muller; one of the pair is discarded, which
/// costs little and keeps each call independent of the previous one).
pub(super) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // `gen` answers [0, 1); 1 - u is in (0, 1], so ln never sees 0.
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A lognormal draw with the given median and log-space sigma.
pub(super) fn lognormal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// True with probability `p`.
pub(super) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// A whole number of seconds, uniform in `[lo, hi]`.
pub(super) fn secs_between(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        return lo;
    }
    rng.gen_range(lo..=hi)
}

/// One item of a weighted list; weights need not sum to one. The list must
/// not be empty (every list here is a constant).
pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, f64)]) -> &'a T {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    // Rounding can leave x a hair above the last weight.
    &items[items.len() - 1].0
}

/// One item of a list, uniformly; the list must not be empty.
pub(super) fn one_of<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// A Poisson draw (Knuth's product method; fine for the small means used
/// here, below 20).
pub(super) fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut product: f64 = rng.gen();
    let mut n = 0;
    while product > limit {
        product *= rng.gen::<f64>();
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn lognormal_median_is_the_median() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut xs: Vec<f64> = (0..20_001)
            .map(|_| lognormal(&mut rng, 30.0, 0.8))
            .collect();
        xs.sort_by(f64::total_cmp);
        // Standard error of a sample median here is about
        // 1.2533 * sigma_x / sqrt(n); 30 +- 1.5 is several of those.
        assert!((28.5..31.5).contains(&xs[10_000]), "median {}", xs[10_000]);
    }

    #[test]
    fn poisson_mean_matches() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 20_000;
        let sum: u32 = (0..n).map(|_| poisson(&mut rng, 3.0)).sum();
        let mean = f64::from(sum) / f64::from(n);
        // sd of the mean: sqrt(3 / 20000) = 0.012; allow +-0.06.
        assert!((2.94..3.06).contains(&mean), "mean {mean}");
    }

    #[test]
    fn pick_follows_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let items = [("a", 3.0), ("b", 1.0)];
        let a = (0..20_000)
            .filter(|_| *pick(&mut rng, &items) == "a")
            .count();
        // Expected 15,000; sd sqrt(20000 * .75 * .25) = 61.
        assert!((14_700..15_300).contains(&a), "a {a}");
    }
}
