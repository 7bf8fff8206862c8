//! Cursor paging over an ordered id index.

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::domain::PageRequest;

/// Pages through an ordered id index (see [`PageRequest`] for the cursor rules).
pub(super) fn page_ids<K: Ord + Copy>(
    ids: Option<&BTreeSet<K>>,
    page: &PageRequest<K>,
) -> (Vec<K>, bool) {
    page_ids_where(ids, page, |_| true)
}

/// [`page_ids`] over the ids that `keep` accepts.
pub(super) fn page_ids_where<K: Ord + Copy>(
    ids: Option<&BTreeSet<K>>,
    page: &PageRequest<K>,
    keep: impl Fn(&K) -> bool,
) -> (Vec<K>, bool) {
    let Some(ids) = ids else {
        return (Vec::new(), false);
    };
    let (lo, hi) = page.order.ascending_bounds(page.after, page.before);
    if matches!((lo, hi), (Some(l), Some(h)) if l >= h) {
        return (Vec::new(), false);
    }
    let range = ids.range((
        lo.map_or(Bound::Unbounded, Bound::Excluded),
        hi.map_or(Bound::Unbounded, Bound::Excluded),
    ));
    let take = page.limit + 1;
    let items: Vec<K> = if page.walks_ascending() {
        range.filter(|id| keep(id)).take(take).copied().collect()
    } else {
        range
            .rev()
            .filter(|id| keep(id))
            .take(take)
            .copied()
            .collect()
    };
    page.finish(items)
}
