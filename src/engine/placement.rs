//! Which partition a key lives in, which core owns that partition, and
//! which drive takes each shard of a stripe.

use xxhash_rust::xxh3::xxh3_64;

use super::layout::Layout;

/// Stable across versions and machines: the partition is part of the on-disk
/// layout (segments and index are per partition).
pub fn partition_of(bucket: &str, key: &str, partitions: u16) -> u16 {
    debug_assert!(partitions > 0);
    let mut buf = Vec::with_capacity(bucket.len() + 1 + key.len());
    buf.extend_from_slice(bucket.as_bytes());
    buf.push(0);
    buf.extend_from_slice(key.as_bytes());
    (xxh3_64(&buf) % partitions as u64) as u16
}

/// Core c owns the partitions p with p mod cores == c, so a restart with
/// another core count only reassigns partitions.
pub fn owner_core(partition: u16, cores: usize) -> usize {
    partition as usize % cores
}

/// The drive of each shard of a stripe. Shard i's home is
/// `layout.drive_of(rotation, i, drives)`; a home that is full (`full`) is
/// replaced by the next drive after the stripe's window, in rotation order,
/// that can take data (`writable`) and holds no other shard of the stripe,
/// so a set with more drives than k+m keeps full redundancy while some fill
/// up. An offline home stays (the shard is missed and repaired when its
/// drive returns), and so does a full one when no drive is spare.
pub fn shard_drives(
    layout: Layout,
    rotation: usize,
    drives: usize,
    full: impl Fn(usize) -> bool,
    writable: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let n = layout.total();
    let mut spares = (n..drives)
        .map(|j| (rotation % drives + j) % drives)
        .filter(|&d| writable(d));
    (0..n)
        .map(|i| {
            let home = layout.drive_of(rotation, i, drives);
            if full(home) {
                spares.next().unwrap_or(home)
            } else {
                home
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_home_drive_gives_its_shard_to_a_spare_drive_outside_the_window() {
        let l = Layout { data: 2, parity: 1 };
        // Six drives, rotation 4: homes 4, 5, 0; spares 1, 2, 3.
        let none = |_| false;
        assert_eq!(shard_drives(l, 4, 6, none, |_| true), vec![4, 5, 0]);
        let full = |d| d == 5 || d == 0;
        let writable = |d| !full(d) && d != 1;
        assert_eq!(shard_drives(l, 4, 6, full, writable), vec![4, 2, 3]);
        // More full homes than spares: the rest stay home (missed).
        let full = |d| d != 1;
        assert_eq!(shard_drives(l, 4, 6, full, |d| d == 1), vec![1, 5, 0]);
    }

    #[test]
    fn with_exactly_k_plus_m_drives_every_shard_stays_home() {
        let l = Layout { data: 4, parity: 2 };
        let homes: Vec<usize> = (0..6).map(|i| l.drive_of(3, i, 6)).collect();
        assert_eq!(shard_drives(l, 3, 6, |d| d == 2, |d| d != 2), homes);
    }

    #[test]
    fn spreads_keys_evenly() {
        let mut counts = [0u32; 64];
        for i in 0..64_000 {
            counts[partition_of("b", &format!("obj-{i}"), 64) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (700..1300).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn stable_value() {
        // Changing the hash would orphan every stored object.
        assert_eq!(
            partition_of("bucket", "key", 64),
            partition_of("bucket", "key", 64)
        );
        assert_eq!(
            xxh3_64(b"bucket\0key") % 64,
            partition_of("bucket", "key", 64) as u64
        );
        assert_eq!(owner_core(13, 4), 1);
    }
}
