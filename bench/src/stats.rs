//! Medians and spread over the repeated runs of one scenario.

/// Median, minimum and maximum of a set of per-run values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values went in.
    pub n: usize,
}

impl Summary {
    /// Summarises the finite values in `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

/// The `q`-quantile (0..=1) of integer counts by the nearest-rank method; 0 for an empty slice.
pub fn quantile_u64(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_and_nan() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Summary::of(&[4.0, 1.0, f64::NAN, 2.0, 3.0]).unwrap();
        assert_eq!((s.median, s.n), (2.5, 4));
        assert!(Summary::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn quantiles() {
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(quantile_u64(&v, 0.1), 1);
        assert_eq!(quantile_u64(&v, 0.9), 9);
        assert_eq!(quantile_u64(&v, 1.0), 10);
        assert_eq!(quantile_u64(&v, 0.0), 1);
        assert_eq!(quantile_u64(&[], 0.5), 0);
    }
}
