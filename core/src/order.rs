//! Positions sorted by a string key: the one sort the crate compiles (the WASM build pays for
//! each sort instantiation), shared by the JSON readers' "sorted keys, last duplicate wins" rule
//! and the exporter's acknowledgement rule.

use crate::prelude::*;

/// The positions of `keys` sorted by key, equal keys in position order.
pub(crate) fn by_key(keys: &[&str]) -> Vec<usize> {
    let key = |i: usize| keys.get(i).copied().unwrap_or_default();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorted_by_key_then_position() {
        assert_eq!(super::by_key(&["b", "a", "b", "a"]), [1, 3, 0, 2]);
        assert_eq!(super::by_key(&[]), Vec::<usize>::new());
    }
}
