//! [`Counts`]: a fixed set of counters that takes a byte each while they are small.
//!
//! With a cell per row (a million segments), a KPI's states are most of a
//! call's memory, and every one is written, merged, moved into output order
//! and read: a state of plain `u64` counters spent 8 bytes on counts that are
//! mostly 0 or 1. A count here is `high[i] * 256 + low[i]`; `high` exists
//! only once some count of the state passes 255, so a state of N counters
//! takes N bytes and a pointer until then. The form is canonical (`high` is
//! there exactly when a count has passed 255), so equal counts compare equal.
use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, Serializer};

use super::Share;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts<const N: usize> {
    low: [u8; N],
    high: Option<Box<[u64; N]>>,
}

impl<const N: usize> Default for Counts<N> {
    fn default() -> Self {
        Counts { low: [0; N], high: None }
    }
}

impl<const N: usize> Counts<N> {
    /// Count one more in counter `i`.
    #[inline]
    pub fn add(&mut self, i: usize) {
        let low = &mut self.low[i];
        if *low == u8::MAX {
            self.carry(i, 1);
        } else {
            *low += 1;
        }
    }

    /// Count `n` more in counter `i`.
    #[inline]
    pub fn add_n(&mut self, i: usize, n: u64) {
        let sum = u64::from(self.low[i]) + n;
        if sum > u64::from(u8::MAX) {
            self.carry(i, n);
        } else {
            self.low[i] = sum as u8;
        }
    }

    /// `n` more in counter `i` where the low byte would pass 255.
    #[cold]
    fn carry(&mut self, i: usize, n: u64) {
        // The sum is held in u128 so that no count short of 2^64 overflows.
        let sum = u128::from(self.low[i]) + u128::from(n);
        self.low[i] = sum as u8;
        let high = self.high.get_or_insert_with(|| Box::new([0; N]));
        let new = u128::from(high[i]) + (sum >> 8);
        assert!(new <= u128::from(u64::MAX >> 8), "a count past 2^64");
        high[i] = new as u64;
    }

    /// Counter `i`.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        u64::from(self.low[i]) + self.high.as_ref().map_or(0, |h| h[i] << 8)
    }

    /// Every counter, read out at once (for finalising, which reads most of them).
    #[inline]
    pub fn all(&self) -> [u64; N] {
        let mut out = self.low.map(u64::from);
        if let Some(high) = &self.high {
            out.iter_mut().zip(high.iter()).for_each(|(o, &h)| *o += h << 8);
        }
        out
    }

    /// All the counters together.
    pub fn total(&self) -> u64 {
        self.all().iter().sum()
    }

    /// The share counter `hits` makes of it and counter `misses` together.
    pub fn share(&self, hits: usize, misses: usize) -> Share {
        let h = self.get(hits);
        Share { hits: h, n: h + self.get(misses) }
    }

    pub fn merge(&mut self, other: &Self) {
        if other.high.is_none() {
            // Byte counts on the other side (the usual chunk-local state):
            // one lane-wise add, unless a sum passes 255. (Counter by counter
            // with a carry test each, merging was an eighth of the survey
            // KPIs' time by customer.)
            let mut sums = [0u8; N];
            let mut carry = false;
            for ((sum, &a), &b) in sums.iter_mut().zip(&self.low).zip(&other.low) {
                let (s, c) = a.overflowing_add(b);
                *sum = s;
                carry |= c;
            }
            if !carry {
                self.low = sums;
                return;
            }
        }
        (0..N).for_each(|i| self.add_n(i, other.get(i)));
    }
}

/// Partial results hold the counts as plain numbers: the layout above is
/// this process's business.
impl<const N: usize> Serialize for Counts<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((0..N).map(|i| self.get(i)))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Counts<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = Vec::<u64>::deserialize(deserializer)?;
        if values.len() != N {
            return Err(D::Error::invalid_length(values.len(), &"the state's number of counters"));
        }
        let mut counts = Counts::default();
        values.iter().enumerate().for_each(|(i, &v)| counts.add_n(i, v));
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_take_a_byte_each() {
        assert_eq!(std::mem::size_of::<Counts<13>>(), 24);
        assert_eq!(std::mem::size_of::<Counts<8>>(), 16);
        let mut c = Counts::<3>::default();
        (0..255).for_each(|_| c.add(1));
        c.add_n(2, 7);
        assert_eq!((c.get(0), c.get(1), c.get(2)), (0, 255, 7));
        assert!(c.high.is_none());
        c.add(1);
        assert_eq!(c.get(1), 256);
        assert!(c.high.is_some());
    }

    #[test]
    fn counts_carry_and_merge_in_any_order() {
        let big = 5 * (1u64 << 40) + 7;
        let mut a = Counts::<4>::default();
        (0..1000).for_each(|_| a.add(0));
        a.add_n(1, big);
        a.add_n(3, 200);
        let mut b = Counts::<4>::default();
        b.add_n(0, 24);
        b.add_n(3, 100);
        (0..600).for_each(|_| b.add(2));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!((0..4).map(|i| ab.get(i)).collect::<Vec<_>>(), [1024, big, 600, 300]);
        assert_eq!(ab.total(), 1024 + big + 600 + 300);
        assert_eq!(ab.share(2, 3), Share { hits: 600, n: 900 });
        // Small states merge, carrying past 255.
        let (mut x, mut y) = (Counts::<2>::default(), Counts::<2>::default());
        x.add_n(0, 200);
        y.add_n(0, 100);
        x.merge(&y);
        assert_eq!(x.get(0), 300);
        // Near the top of u64.
        let mut top = Counts::<1>::default();
        top.add_n(0, u64::MAX - 3);
        (0..3).for_each(|_| top.add(0));
        assert_eq!(top.get(0), u64::MAX);
    }

    proptest::proptest! {
        /// States merged in any grouping hold the plain sums, in the one form
        /// that adding them directly gives (byte sums with and without a carry,
        /// one side or both past 255).
        #[test]
        fn merges_are_plain_sums(parts in proptest::collection::vec(proptest::collection::vec(0u64..300, 5), 1..9)) {
            let mut merged = Counts::<5>::default();
            let mut plain = [0u64; 5];
            for part in &parts {
                let mut c = Counts::<5>::default();
                for (i, &n) in part.iter().enumerate() {
                    c.add_n(i, n);
                    plain[i] += n;
                }
                merged.merge(&c);
            }
            let mut direct = Counts::<5>::default();
            plain.iter().enumerate().for_each(|(i, &n)| direct.add_n(i, n));
            proptest::prop_assert_eq!(&merged, &direct);
            proptest::prop_assert_eq!((0..5).map(|i| merged.get(i)).collect::<Vec<_>>(), plain.to_vec());
        }
    }

    #[test]
    fn partial_results_round_trip_as_plain_counts() {
        let mut c = Counts::<3>::default();
        c.add_n(0, 70_000);
        c.add(2);
        let bytes = postcard::to_allocvec(&c).unwrap();
        assert_eq!(postcard::from_bytes::<Counts<3>>(&bytes).unwrap(), c);
        assert_eq!(postcard::from_bytes::<Vec<u64>>(&bytes).unwrap(), [70_000, 0, 1]);
        let short = postcard::to_allocvec(&vec![1u64, 2]).unwrap();
        assert!(postcard::from_bytes::<Counts<3>>(&short).is_err());
    }
}
