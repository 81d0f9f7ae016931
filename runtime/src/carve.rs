//! Splitting the arena for one kernel call: its output and its scratch mutable, everything else
//! shared (the inputs). Both executors use it, so the borrow rules are enforced in one place.

use core::ops::Range;

/// The arena bytes outside the two carved ranges, by arena offset.
pub(crate) struct Rest<'a> {
    parts: [(usize, &'a [u8]); 3],
}

impl<'a> Rest<'a> {
    /// `len` bytes at arena offset `off`, if they lie wholly outside the carved ranges.
    pub fn get(&self, off: usize, len: usize) -> Option<&'a [u8]> {
        if len == 0 {
            return Some(&[]);
        }
        let end = off.checked_add(len)?;
        self.parts.iter().find(|(s, p)| off >= *s && end <= s + p.len()).map(|(s, p)| &p[off - s..end - s])
    }
}

/// Carve `a` and `b` (disjoint; an empty `b` is allowed anywhere) out of `arena`.
pub(crate) fn carve(arena: &mut [u8], a: Range<usize>, b: Range<usize>) -> Option<(&mut [u8], &mut [u8], Rest<'_>)> {
    let b = if b.is_empty() { a.end..a.end } else { b };
    if a.start > a.end || b.start > b.end {
        return None;
    }
    let swapped = b.start < a.start;
    let (first, second) = if swapped { (b, a) } else { (a, b) };
    if first.end > second.start || second.end > arena.len() {
        return None;
    }
    let (p0, rest) = arena.split_at_mut(first.start);
    let (x, rest) = rest.split_at_mut(first.end - first.start);
    let (p1, rest) = rest.split_at_mut(second.start - first.end);
    let (y, p2) = rest.split_at_mut(second.end - second.start);
    let rest = Rest { parts: [(0, &*p0), (first.end, &*p1), (second.end, &*p2)] };
    Some(if swapped { (y, x, rest) } else { (x, y, rest) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carved_ranges_and_the_rest() {
        let mut a: [u8; 16] = core::array::from_fn(|i| i as u8);
        let (out, scratch, rest) = carve(&mut a, 8..12, 2..4).unwrap();
        assert_eq!((&out[..], &scratch[..]), (&[8, 9, 10, 11][..], &[2, 3][..]));
        assert_eq!(rest.get(4, 4), Some(&[4, 5, 6, 7][..]));
        assert_eq!(rest.get(12, 4), Some(&[12, 13, 14, 15][..]));
        assert_eq!(rest.get(0, 2), Some(&[0, 1][..]));
        // Overlapping a carved range, or past the end: refused.
        assert_eq!(rest.get(3, 2), None);
        assert_eq!(rest.get(11, 2), None);
        assert_eq!(rest.get(14, 4), None);
        // An empty scratch; overlapping ranges refused; ranges past the arena refused.
        assert!(carve(&mut a, 4..8, 0..0).is_some());
        assert!(carve(&mut a, 4..8, 6..10).is_none());
        assert!(carve(&mut a, 12..20, 0..0).is_none());
    }
}
