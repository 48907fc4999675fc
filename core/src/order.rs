//! Positions sorted by a string key: the one sort the crate compiles (the WASM build pays for
//! each sort instantiation), shared by the JSON readers' "sorted keys, last duplicate wins" rule
//! and the exporter's acknowledgement rule.

use crate::prelude::*;

/// The positions of `keys` sorted by key, equal keys in position order.
pub(crate) fn by_key(keys: &[&str]) -> Vec<usize> {
    let key = |i: usize| keys.get(i).copied().unwrap_or_default();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // Positions break ties, so the order is total and every sort gives the same answer.
    #[cfg(feature = "std")]
    order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
    #[cfg(not(feature = "std"))]
    compact_sort(&mut order, |a, b| (key(a), a) < (key(b), b));
    order
}

/// The sort of the `no_std` build (the size-first WASM client module): insertion sort of runs of
/// [`RUN`], then bottom-up merges that skip runs already in order (so sorted input, the usual
/// case for time-ordered ids, costs one comparison per run). Written out because std's
/// `sort_unstable_by` (pattern-defeating quicksort with sorting networks and a heapsort
/// fallback) costs the client module about 1.4 KiB gzipped; the gateway and the full module keep
/// it. `less` must be a strict total order on the values of `order`.
#[cfg(any(test, not(feature = "std")))]
fn compact_sort(order: &mut [usize], less: impl Fn(usize, usize) -> bool) {
    const RUN: usize = 16;
    for run in order.chunks_mut(RUN) {
        for i in 1..run.len() {
            let mut j = i;
            while j > 0 && less(at(run, j), at(run, j - 1)) {
                run.swap(j, j - 1);
                j -= 1;
            }
        }
    }
    let n = order.len();
    let mut merged = Vec::new();
    let mut width = RUN;
    while width < n {
        let mut start = 0;
        while start + width < n {
            let mid = start + width;
            let end = mid.saturating_add(width).min(n);
            if less(at(order, mid), at(order, mid - 1))
                && let Some(both) = order.get_mut(start..end)
                && let Some((left, right)) = both.split_at_checked(width)
            {
                merged.clear();
                let (mut l, mut r) = (left.iter().peekable(), right.iter().peekable());
                while let (Some(&&a), Some(&&b)) = (l.peek(), r.peek()) {
                    if less(b, a) {
                        merged.push(b);
                        r.next();
                    } else {
                        merged.push(a);
                        l.next();
                    }
                }
                merged.extend(l.chain(r));
                both.copy_from_slice(&merged);
            }
            start = end;
        }
        width = width.saturating_mul(2);
    }
}

#[cfg(any(test, not(feature = "std")))]
fn at(order: &[usize], i: usize) -> usize {
    order.get(i).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn sorted_by_key_then_position() {
        assert_eq!(super::by_key(&["b", "a", "b", "a"]), [1, 3, 0, 2]);
        assert_eq!(super::by_key(&[]), Vec::<usize>::new());
    }

    /// The `no_std` build's sort gives std's order, on short and long, sorted, reversed and
    /// random keys with duplicates.
    fn same_as_std(keys: &[String]) {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let key = |i: usize| keys[i];
        let mut want: Vec<usize> = (0..keys.len()).collect();
        want.sort_unstable_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
        let mut got: Vec<usize> = (0..keys.len()).collect();
        super::compact_sort(&mut got, |a, b| (key(a), a) < (key(b), b));
        assert_eq!(got, want);
    }

    #[test]
    fn compact_sort_on_sorted_and_reversed_keys() {
        for n in [0, 1, 2, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let sorted: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
            same_as_std(&sorted);
            let reversed: Vec<String> = sorted.iter().rev().cloned().collect();
            same_as_std(&reversed);
            let equal: Vec<String> = (0..n).map(|_| "k".to_string()).collect();
            same_as_std(&equal);
        }
    }

    proptest! {
        #[test]
        fn compact_sort_is_std_sort(keys in proptest::collection::vec("[a-d]{0,3}", 0..200)) {
            same_as_std(&keys);
        }
    }
}
