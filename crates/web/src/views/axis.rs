//! Axis ticks for the charts.

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks up to `max`.
pub fn nice_step(max: f64, target: usize) -> f64 {
    if !(max.is_finite() && max > 0.0) || target == 0 {
        return 1.0;
    }
    let raw = max / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Ticks 0, step, 2*step, ... covering `max`, and the axis end (the last tick).
pub fn ticks(max: f64, target: usize) -> Vec<f64> {
    let step = nice_step(max, target);
    let mut v = vec![0.0];
    let mut t = 0.0;
    while t < max && v.len() < 50 {
        t += step;
        v.push(t);
    }
    v
}

/// Ticks spanning `lo..=hi` on multiples of a nice step (for axes that need not start at 0).
pub fn ticks_range(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let span = if hi - lo > 0.0 { hi - lo } else { hi.abs().max(1.0) * 0.2 };
    let step = nice_step(span, target);
    let start = (lo / step).floor() * step;
    let mut v = vec![start];
    let mut t = start;
    while (t < hi || v.len() < 2) && v.len() < 50 {
        t += step;
        v.push(t);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_1_2_5() {
        assert_eq!(nice_step(100.0, 4), 50.0); // raw 25 -> 50
        assert_eq!(nice_step(194.4, 4), 50.0); // raw 48.6 -> 50
        assert_eq!(nice_step(8.0, 4), 2.0);
        assert_eq!(nice_step(0.7, 4), 0.2); // raw 0.175 -> 0.2
        assert_eq!(nice_step(0.0, 4), 1.0);
    }

    #[test]
    fn ticks_cover_the_maximum() {
        assert_eq!(ticks(194.4, 4), vec![0.0, 50.0, 100.0, 150.0, 200.0]);
        assert_eq!(ticks(100.0, 4), vec![0.0, 50.0, 100.0]);
    }

    #[test]
    fn range_ticks_start_below_the_minimum() {
        // 37.3..42.2 kB: span 4.9 -> step 1 (raw 0.98) -> 37..43.
        assert_eq!(ticks_range(37.3, 42.2, 5), vec![37.0, 38.0, 39.0, 40.0, 41.0, 42.0, 43.0]);
        // A single value gets a span of 20 % around it: 50 -> step 2 (raw 2) from 50.
        assert_eq!(ticks_range(50.0, 50.0, 5), vec![50.0, 52.0]);
    }
}
