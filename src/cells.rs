//! Global ids of the (segment key id, period ordinal) cells of a call.
//!
//! Every chunk's cells, and every cell a customer walk reaches, are looked up
//! here, so with about one cell per input row (10⁵ or more segments) this is
//! one lookup per row. A hash map costs a hash and one or two cache misses in
//! a table of many megabytes per lookup; while the cells fill a good share of
//! the key × period grid (a key seen in a period is usually seen in the
//! neighbouring ones), a dense table per period, indexed by key id, costs one
//! read in a row of 4 bytes per key. When the grid is mostly empty (daily
//! periods over years, a key per customer) the table switches once to a
//! sparse index and stays there: each key's first cell in an array indexed by
//! key id, and a hash map for the cells of keys seen in further periods. With
//! a key per row (10⁶ segments) keys are mostly new, their ids rise in row
//! order, and the array is written in sequence where a map of every cell
//! took a cache miss per row.
use crate::keys::{fast_map, FastMap};

const ABSENT: u32 = u32::MAX;
/// Most periods the dense table spans.
const MAX_SPAN: i64 = 1 << 16;
/// Dense slots allowed beyond [`SLOTS_PER_CELL`] per cell.
const SLACK_SLOTS: usize = 1 << 16;
/// Dense slots (4 bytes) allowed per cell before the hash map (about 16
/// bytes per cell) is the smaller.
const SLOTS_PER_CELL: usize = 4;

/// The cells in the order they were first seen (index = global id), and the
/// index that finds a cell's id.
pub(crate) struct CellIndex {
    cells: Vec<(u32, i32)>,
    dense: Option<Dense>,
    /// Used once `dense` is `None`: per key id, its first cell's (period, id),
    /// id [`ABSENT`] for a key without one yet ...
    first: Vec<(i32, u32)>,
    /// ... and every other cell.
    map: FastMap<(u32, i32), u32>,
}

struct Dense {
    /// The period ordinal of `rows[0]`.
    lo: i32,
    /// `rows[p - lo][key]`: the cell id, or [`ABSENT`].
    rows: Vec<Vec<u32>>,
    /// Sum of the rows' lengths.
    slots: usize,
}

impl Default for CellIndex {
    fn default() -> Self {
        CellIndex {
            cells: Vec::new(),
            dense: Some(Dense { lo: 0, rows: Vec::new(), slots: 0 }),
            first: Vec::new(),
            map: fast_map(0),
        }
    }
}

impl CellIndex {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }

    /// The cells, by global id.
    pub(crate) fn cells(&self) -> &[(u32, i32)] {
        &self.cells
    }

    /// Room for `more` new cells.
    pub(crate) fn reserve(&mut self, more: usize) {
        // (Not the sparse map: it holds only the cells of keys seen in
        // several periods, often few.)
        self.cells.reserve(more);
    }

    /// The global id of `cell`, added if new.
    #[inline]
    pub(crate) fn id(&mut self, cell: (u32, i32)) -> u32 {
        let (key, period) = cell;
        if let Some(dense) = &self.dense {
            let r = i64::from(period) - i64::from(dense.lo);
            if let Some(&id) = usize::try_from(r).ok().and_then(|r| dense.rows.get(r)?.get(key as usize)) {
                if id != ABSENT {
                    return id;
                }
            }
            return self.insert_dense(cell);
        }
        self.sparse_id(cell)
    }

    /// [`CellIndex::id`] once the dense table has given way.
    #[inline]
    fn sparse_id(&mut self, cell: (u32, i32)) -> u32 {
        let (key, period) = cell;
        let next = self.cells.len() as u32;
        let k = key as usize;
        if k >= self.first.len() {
            self.first.resize(k + 1, (0, ABSENT));
        }
        match self.first[k] {
            (_, ABSENT) => {
                self.first[k] = (period, next);
                self.cells.push(cell);
                next
            }
            (p, id) if p == period => id,
            _ => {
                let CellIndex { cells, map, .. } = self;
                *map.entry(cell).or_insert_with(|| {
                    cells.push(cell);
                    next
                })
            }
        }
    }

    /// Add `cell`, absent from the dense table (which may give way to the map).
    #[inline(never)]
    fn insert_dense(&mut self, cell: (u32, i32)) -> u32 {
        let (key, period) = cell;
        let next = self.cells.len() as u32;
        let dense = self.dense.as_mut().expect("called in dense mode");
        let fits = if dense.rows.is_empty() {
            dense.lo = period;
            dense.rows.push(Vec::new());
            true
        } else {
            let (lo, hi) = (i64::from(dense.lo), i64::from(dense.lo) + dense.rows.len() as i64 - 1);
            let (new_lo, new_hi) = (lo.min(i64::from(period)), hi.max(i64::from(period)));
            if new_hi - new_lo >= MAX_SPAN {
                false
            } else {
                let before = (lo - new_lo) as usize;
                if before > 0 {
                    dense.rows.splice(0..0, (0..before).map(|_| Vec::new()));
                    dense.lo = period;
                }
                dense.rows.resize_with((new_hi - new_lo + 1) as usize, Vec::new);
                true
            }
        };
        if fits {
            let row = &mut dense.rows[(i64::from(period) - i64::from(dense.lo)) as usize];
            if row.len() <= key as usize {
                dense.slots += key as usize + 1 - row.len();
                row.resize(key as usize + 1, ABSENT);
            }
            row[key as usize] = next;
            if dense.slots <= SLOTS_PER_CELL * (self.cells.len() + 1) + SLACK_SLOTS {
                self.cells.push(cell);
                return next;
            }
        }
        // Too sparse (or too many periods) for a dense table: the sparse index
        // from now on, given the cells so far (their ids unchanged).
        self.dense = None;
        let known = std::mem::take(&mut self.cells);
        self.cells.reserve(known.len() + 1);
        for &c in &known {
            self.sparse_id(c);
        }
        self.sparse_id(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same ids as a plain map, in first-seen order, whichever mode serves them.
    fn check(cells: &[(u32, i32)]) -> CellIndex {
        let mut index = CellIndex::new();
        let mut plain = std::collections::HashMap::new();
        for &c in cells {
            let next = plain.len() as u32;
            let want = *plain.entry(c).or_insert(next);
            assert_eq!(index.id(c), want, "cell {c:?}");
        }
        assert_eq!(index.len(), plain.len());
        for (id, c) in index.cells().iter().enumerate() {
            assert_eq!(plain[c] as usize, id);
        }
        index
    }

    #[test]
    fn dense_grid_stays_dense() {
        // Periods arrive out of order, below and above the first one.
        let cells: Vec<(u32, i32)> = (0..5000u32)
            .flat_map(|i| [(i % 700, (i % 9) as i32 - 3), ((i * 7) % 700, 5 - (i % 11) as i32)])
            .collect();
        let index = check(&cells);
        assert!(index.dense.is_some());
    }

    #[test]
    fn sparse_grid_switches_to_the_sparse_index() {
        // One cell per key, each in its own period: a diagonal of a huge grid.
        let cells: Vec<(u32, i32)> =
            (0..40_000u32).map(|k| (k, k as i32 * 3)).chain([(5, 15), (7, -9)]).collect();
        let index = check(&cells);
        assert!(index.dense.is_none());
    }

    #[test]
    fn sparse_index_serves_keys_in_several_periods() {
        // Daily periods over years, a key per customer: sparse from early on.
        // Keys come back in their first period and in later ones, in a
        // scrambled order, with key ids far apart.
        let mut seed = 3u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        let cells: Vec<(u32, i32)> = (0..60_000)
            .map(|_| {
                let key = next() % 5_000 * 97;
                let period = (next() % 4) as i32 * 1_000 + (key % 7) as i32;
                (key, period)
            })
            .collect();
        let index = check(&cells);
        assert!(index.dense.is_none());
        assert!(!index.map.is_empty(), "some keys have more than one period");
    }

    #[test]
    fn extreme_periods_switch_to_the_sparse_index() {
        let index = check(&[(0, i32::MIN), (1, i32::MAX), (0, i32::MIN), (2, 0), (1, i32::MAX)]);
        assert!(index.dense.is_none());
    }
}
