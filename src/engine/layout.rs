//! Erasure layout: how many data and parity shards an object stripe is cut
//! into, the quorums that follow from it, and how stripes tile an object.

use std::fmt;

/// Bytes of object data carried by one full stripe.
pub const STRIPE_DATA: usize = 1 << 20;

/// reed-solomon-simd works on 64-byte blocks; shard lengths are multiples.
pub const SHARD_ALIGN: usize = 64;

/// Data + parity shard counts. `data >= 1` is an invariant of every layout
/// built by [`Layout::for_drives`] or [`Layout::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub data: u8,
    pub parity: u8,
}

impl Layout {
    /// Number of shards per stripe (= drives written per stripe).
    pub fn total(self) -> usize {
        usize::from(self.data) + usize::from(self.parity)
    }

    /// Default layout for a set of `drives` drives. 1–3 drives mirror.
    ///
    /// # Panics
    /// If `drives` is 0 or above 255 (a stripe has at most 255 shards).
    pub fn for_drives(drives: usize) -> Layout {
        assert!(
            (1..=255).contains(&drives),
            "drive count {drives} outside 1..=255"
        );
        let (data, parity) = match drives {
            1 => (1, 0),
            2 => (1, 1),
            3 => (1, 2),
            4..=8 => (drives - 2, 2),
            9..=11 => (drives - 3, 3),
            _ => (drives - 4, 4),
        };
        // In range: drives <= 255 and data, parity <= drives.
        Layout {
            data: data as u8,
            parity: parity as u8,
        }
    }

    /// Parses `"D+P"`, e.g. `"4+2"`. Requires `D >= 1` and `D + P <= 255`;
    /// `P > D` is allowed (e.g. the `1+2` three-way mirror).
    pub fn parse(s: &str) -> Result<Layout, String> {
        let (d, p) = s
            .trim()
            .split_once('+')
            .ok_or_else(|| format!("layout {s:?}: expected DATA+PARITY, e.g. \"4+2\""))?;
        let num = |part: &str, what: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("layout {s:?}: {what} count {part:?} is not a number"))
        };
        let (data, parity) = (num(d, "data")?, num(p, "parity")?);
        if data == 0 {
            return Err(format!("layout {s:?}: data count must be at least 1"));
        }
        if data + parity > 255 {
            return Err(format!(
                "layout {s:?}: data+parity is {}, at most 255 shards are supported",
                data + parity
            ));
        }
        // Both fit: their sum is <= 255.
        Ok(Layout {
            data: data as u8,
            parity: parity as u8,
        })
    }

    /// Shards that must be durably written for a write to succeed. With
    /// `data == parity` two disjoint halves could each reach `data`, so one
    /// more is needed to make concurrent writers conflict.
    pub fn write_quorum(self) -> usize {
        let extra = usize::from(self.parity > 0 && self.data == self.parity);
        usize::from(self.data) + extra
    }

    /// Shards needed to read (reconstruct) a stripe.
    pub fn read_quorum(self) -> usize {
        usize::from(self.data)
    }

    /// Length of each shard for a stripe holding `stripe_data_len` bytes:
    /// `ceil(len / data)` rounded up to a multiple of 64, at least 64.
    pub fn shard_len(self, stripe_data_len: usize) -> usize {
        debug_assert!(self.data >= 1, "layout with no data shards");
        let per_shard = stripe_data_len.div_ceil(usize::from(self.data));
        per_shard.next_multiple_of(SHARD_ALIGN).max(SHARD_ALIGN)
    }

    /// Drive holding `shard` of a stripe whose first shard goes to drive
    /// `rotation` (rotation spreads parity load across drives).
    pub fn drive_of(self, rotation: usize, shard: usize, drives: usize) -> usize {
        assert!(drives > 0, "drive_of with no drives");
        debug_assert!(shard < self.total(), "shard {shard} out of layout {self}");
        // Reduce first so a large rotation cannot overflow.
        (rotation % drives + shard) % drives
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.data, self.parity)
    }
}

/// Number of stripes an object of `object_len` bytes occupies (0 if empty).
pub fn stripe_count(object_len: u64) -> u64 {
    object_len.div_ceil(STRIPE_DATA as u64)
}

/// Object byte offset and data length of stripe `stripe`. Only the last
/// stripe may be shorter than [`STRIPE_DATA`]; a stripe past the end has
/// length 0.
pub fn stripe_range(object_len: u64, stripe: u64) -> (u64, usize) {
    stripe_range_of(object_len, stripe, STRIPE_DATA)
}

/// [`stripe_range`] for stripes of `stripe_data` bytes (sealed objects use
/// a whole number of sealed packages, `engine::sealing::stripe_data`).
pub fn stripe_range_of(object_len: u64, stripe: u64, stripe_data: usize) -> (u64, usize) {
    let offset = stripe.saturating_mul(stripe_data as u64);
    let len = object_len.saturating_sub(offset).min(stripe_data as u64);
    // len <= stripe_data, so it fits in usize.
    (offset, len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(data: u8, parity: u8) -> Layout {
        Layout { data, parity }
    }

    #[test]
    fn for_drives_table() {
        let table = [
            (1, l(1, 0)),
            (2, l(1, 1)),
            (3, l(1, 2)),
            (4, l(2, 2)),
            (5, l(3, 2)),
            (6, l(4, 2)),
            (7, l(5, 2)),
            (8, l(6, 2)),
            (9, l(6, 3)),
            (10, l(7, 3)),
            (11, l(8, 3)),
            (12, l(8, 4)),
            (13, l(9, 4)),
            (14, l(10, 4)),
            (15, l(11, 4)),
            (16, l(12, 4)),
            (17, l(13, 4)),
            (32, l(28, 4)),
            (255, l(251, 4)),
        ];
        for (drives, want) in table {
            let got = Layout::for_drives(drives);
            assert_eq!(got, want, "{drives} drives");
            assert_eq!(got.total(), drives);
        }
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn for_drives_zero_panics() {
        Layout::for_drives(0);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn for_drives_too_many_panics() {
        Layout::for_drives(256);
    }

    #[test]
    fn parse_ok_and_display_roundtrip() {
        for (s, want) in [
            ("4+2", l(4, 2)),
            ("1+0", l(1, 0)),
            ("1+2", l(1, 2)),
            (" 12 + 4 ", l(12, 4)),
            ("251+4", l(251, 4)),
            ("1+254", l(1, 254)),
        ] {
            let got = Layout::parse(s).unwrap();
            assert_eq!(got, want, "{s:?}");
            assert_eq!(Layout::parse(&got.to_string()).unwrap(), got);
        }
        assert_eq!(l(4, 2).to_string(), "4+2");
    }

    #[test]
    fn parse_errors() {
        for (s, needle) in [
            ("", "expected DATA+PARITY"),
            ("4-2", "expected DATA+PARITY"),
            ("4", "expected DATA+PARITY"),
            ("+2", "data count \"\" is not a number"),
            ("4+", "parity count \"\" is not a number"),
            ("a+2", "data count \"a\" is not a number"),
            ("4+-1", "parity count \"-1\" is not a number"),
            ("4+2+1", "parity count \"2+1\" is not a number"),
            ("0+2", "at least 1"),
            ("200+56", "data+parity is 256"),
            ("99999999999+1", "is not a number"),
        ] {
            let err = Layout::parse(s).unwrap_err();
            assert!(err.contains(needle), "{s:?}: {err}");
        }
    }

    #[test]
    fn quorums() {
        for (layout, w, r) in [
            (l(1, 0), 1, 1),
            (l(1, 1), 2, 1),
            (l(1, 2), 1, 1),
            (l(2, 2), 3, 2),
            (l(4, 2), 4, 4),
            (l(6, 3), 6, 6),
            (l(4, 4), 5, 4),
            (l(12, 4), 12, 12),
        ] {
            assert_eq!(layout.write_quorum(), w, "{layout}");
            assert_eq!(layout.read_quorum(), r, "{layout}");
        }
    }

    #[test]
    fn shard_len_rounding() {
        assert_eq!(l(4, 2).shard_len(0), 64);
        assert_eq!(l(4, 2).shard_len(1), 64);
        assert_eq!(l(4, 2).shard_len(256), 64);
        assert_eq!(l(4, 2).shard_len(257), 128);
        assert_eq!(l(1, 1).shard_len(65), 128);
        assert_eq!(l(4, 2).shard_len(STRIPE_DATA), STRIPE_DATA / 4);
        assert_eq!(l(12, 4).shard_len(STRIPE_DATA), 87424); // ceil(1MiB/12)=87382 -> 87424
        for data in 1..=20u8 {
            for len in [0, 1, 63, 64, 1000, STRIPE_DATA - 1, STRIPE_DATA] {
                let s = l(data, 2).shard_len(len);
                assert_eq!(s % 64, 0);
                assert!(s * usize::from(data) >= len);
                assert!(s == 64 || (s - 64) * usize::from(data) < len);
            }
        }
    }

    #[test]
    fn drive_of_rotates() {
        let layout = l(4, 2);
        let drives: Vec<_> = (0..6).map(|s| layout.drive_of(4, s, 6)).collect();
        assert_eq!(drives, [4, 5, 0, 1, 2, 3]);
        assert_eq!(layout.drive_of(usize::MAX, 5, 6), (usize::MAX % 6 + 5) % 6);
    }

    #[test]
    fn stripes() {
        let m = STRIPE_DATA as u64;
        assert_eq!(stripe_count(0), 0);
        assert_eq!(stripe_count(1), 1);
        assert_eq!(stripe_count(m), 1);
        assert_eq!(stripe_count(m + 1), 2);
        assert_eq!(stripe_range(1, 0), (0, 1));
        assert_eq!(stripe_range(m, 0), (0, STRIPE_DATA));
        assert_eq!(stripe_range(2 * m + 5, 1), (m, STRIPE_DATA));
        assert_eq!(stripe_range(2 * m + 5, 2), (2 * m, 5));
        assert_eq!(stripe_range(2 * m + 5, 3), (3 * m, 0));
        assert_eq!(stripe_range(0, 0), (0, 0));
        assert_eq!(stripe_range(5, u64::MAX), (u64::MAX, 0));
        // Stripes tile the object exactly.
        let len = 5 * m + 12345;
        let mut next = 0;
        for s in 0..stripe_count(len) {
            let (off, n) = stripe_range(len, s);
            assert_eq!(off, next);
            next += n as u64;
        }
        assert_eq!(next, len);
    }
}
