//! Column builders tuned for the generators: Utf8 columns filled from
//! fixed-width ids and padded category constants (no per-value `memcpy`
//! call, no allocation), and small helpers turning vectors into arrays.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};

/// Longest category value (`early_buy_enrolment` is 19 bytes).
const PAD: usize = 24;

/// A short string constant, zero-padded so it can be copied with a
/// fixed-size move.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cat {
    pad: [u8; PAD],
    len: u8,
}

impl Cat {
    pub(crate) const fn new(s: &str) -> Cat {
        let b = s.as_bytes();
        assert!(b.len() <= PAD, "category value too long");
        let mut pad = [0u8; PAD];
        let mut i = 0;
        while i < b.len() {
            pad[i] = b[i];
            i += 1;
        }
        Cat { pad, len: b.len() as u8 }
    }
}

/// `[Cat::new(a), Cat::new(b), ...]`.
macro_rules! cats {
    ($($s:expr),* $(,)?) => { [$($crate::demo::columns::Cat::new($s)),*] };
}
pub(crate) use cats;

/// The id `prefix` + `W - 1` zero-padded decimal digits of `n`.
pub(crate) fn code<const W: usize>(prefix: u8, mut n: usize) -> [u8; W] {
    let mut out = [b'0'; W];
    out[0] = prefix;
    for k in (1..W).rev() {
        out[k] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    debug_assert_eq!(n, 0, "id does not fit");
    out
}

/// A Utf8 column under construction.
pub(crate) struct StrCol {
    offsets: Vec<i32>,
    values: Vec<u8>,
    nulls: NullBufferBuilder,
}

impl StrCol {
    pub(crate) fn new(rows: usize, avg_len: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        StrCol {
            offsets,
            values: Vec::with_capacity(rows * avg_len + PAD),
            nulls: NullBufferBuilder::new(rows),
        }
    }

    #[inline]
    fn end_value(&mut self) {
        self.offsets.push(self.values.len() as i32);
        self.nulls.append_non_null();
    }

    /// Appends a fixed-width value (an id).
    #[inline]
    pub(crate) fn push_fixed<const W: usize>(&mut self, v: &[u8; W]) {
        self.values.extend_from_slice(v);
        self.end_value();
    }

    /// Appends a category constant.
    #[inline]
    pub(crate) fn push_cat(&mut self, c: &Cat) {
        self.values.extend_from_slice(&c.pad);
        let len = self.values.len() - PAD + c.len as usize;
        self.values.truncate(len);
        self.end_value();
    }

    /// Appends the text written so far with [`std::fmt::Write`] as one value.
    #[inline]
    pub(crate) fn finish_value(&mut self) {
        self.end_value();
    }

    #[inline]
    pub(crate) fn push_null(&mut self) {
        self.offsets.push(self.values.len() as i32);
        self.nulls.append_null();
    }

    pub(crate) fn finish(mut self) -> ArrayRef {
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        let values = Buffer::from_vec(self.values);
        Arc::new(StringArray::new(offsets, values, self.nulls.finish()))
    }
}

impl std::fmt::Write for StrCol {
    #[inline]
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.values.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub(crate) fn a_i64(v: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}
pub(crate) fn a_i64_opt(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}
pub(crate) fn a_i32(v: Vec<i32>) -> ArrayRef {
    Arc::new(Int32Array::from(v))
}
pub(crate) fn a_f64(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}
pub(crate) fn a_f64_opt(v: Vec<Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from(v))
}
pub(crate) fn a_ts(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v))
}
pub(crate) fn a_ts_opt(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v))
}
pub(crate) fn a_date(v: Vec<i32>) -> ArrayRef {
    Arc::new(Date32Array::from(v))
}
pub(crate) fn a_date_opt(v: Vec<Option<i32>>) -> ArrayRef {
    Arc::new(Date32Array::from(v))
}
pub(crate) fn a_bool(v: Vec<bool>) -> ArrayRef {
    Arc::new(BooleanArray::from(v))
}
pub(crate) fn a_bool_opt(v: Vec<Option<bool>>) -> ArrayRef {
    Arc::new(BooleanArray::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use std::fmt::Write;

    #[test]
    fn str_col_builds_valid_strings() {
        const CATS: [Cat; 2] = cats!["North", "early_buy_enrolment"];
        let mut c = StrCol::new(2, 4);
        c.push_fixed(&code::<7>(b'C', 101));
        c.push_cat(&CATS[0]);
        c.push_null();
        c.push_cat(&CATS[1]);
        let _ = c.write_str("très ");
        let _ = write!(c, "{}", 1 + 1);
        c.finish_value();
        let a = c.finish();
        let s = a.as_string::<i32>();
        assert_eq!(s.len(), 5);
        assert_eq!(s.value(0), "C000101");
        assert_eq!(s.value(1), "North");
        assert!(s.is_null(2));
        assert_eq!(s.value(3), "early_buy_enrolment");
        assert_eq!(s.value(4), "très 2");
        assert_eq!(code::<4>(b'R', 7), *b"R007");
    }
}
