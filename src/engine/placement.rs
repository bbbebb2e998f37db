//! Which partition a key lives in and which core owns that partition.

use xxhash_rust::xxh3::xxh3_64;

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

#[cfg(test)]
mod tests {
    use super::*;

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
