//! The byte ranges of ranged GETs, drawn as warp draws them.

use rand::Rng;

/// A length from 1 to `max` inclusive, exponentially distributed as warp's
/// `GetExpRandSize`: log2 of the length uniform between max(7, log2(max) - 8)
/// and log2(max), the lowest doubling drawn linearly (mean about 0.18 × max).
pub fn exp_rand_size(rng: &mut impl Rng, max: u64) -> u64 {
    if max < 10 {
        return if max == 0 {
            0
        } else {
            1 + rng.gen_range(0..max)
        };
    }
    let log_max = ((max - 1) as f64).log2();
    let log_min = f64::max(7.0, log_max - 8.0);
    let random: f64 = rng.gen();
    let log_size = random * (log_max - log_min);
    let n = if log_size > 1.0 {
        1 + 2f64.powf(log_size + log_min) as u64
    } else {
        1 + (random * 2f64.powf(log_min + 1.0)) as u64
    };
    n.min(max)
}

/// The first and last byte (inclusive) of a ranged GET of an object of
/// `size` bytes: `fixed` bytes at a random offset, or, as warp's `--range`,
/// a random length with a random start. None when the object is too small
/// for a range (warp then GETs it whole).
pub fn pick(rng: &mut impl Rng, size: u64, fixed: Option<u64>) -> Option<(u64, u64)> {
    match fixed {
        Some(0) => None,
        Some(len) => {
            let len = len.min(size);
            if len == 0 {
                return None;
            }
            let start = rng.gen_range(0..=size - len);
            Some((start, start + len - 1))
        }
        None if size > 2 => {
            let len = exp_rand_size(rng, size - 2);
            let start = rng.gen_range(0..size - len);
            // warp asks for start..=start + len: len + 1 bytes.
            Some((start, start + len))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn random_ranges_stay_inside_the_object_and_average_like_warps() {
        let mut rng = SmallRng::seed_from_u64(1);
        let size = 1 << 20;
        let mut total = 0u64;
        let n = 20_000;
        for _ in 0..n {
            let (a, b) = pick(&mut rng, size, None).unwrap();
            assert!(a <= b && b < size, "{a}-{b}");
            total += b - a + 1;
        }
        // warp documents a mean of about 0.179 × the maximum.
        let mean = total as f64 / n as f64 / size as f64;
        assert!((0.15..0.21).contains(&mean), "mean fraction {mean}");
    }

    #[test]
    fn fixed_ranges_have_their_length_and_cover_both_ends() {
        let mut rng = SmallRng::seed_from_u64(2);
        let (mut first, mut last) = (false, false);
        for _ in 0..10_000 {
            let (a, b) = pick(&mut rng, 100, Some(10)).unwrap();
            assert_eq!(b - a + 1, 10);
            assert!(b < 100);
            first |= a == 0;
            last |= b == 99;
        }
        assert!(first && last, "offsets span the whole object");
        assert_eq!(pick(&mut rng, 5, Some(10)), Some((0, 4)));
        assert_eq!(pick(&mut rng, 2, None), None);
        assert_eq!(pick(&mut rng, 0, Some(3)), None);
    }

    #[test]
    fn small_maxima_are_uniform_from_one() {
        let mut rng = SmallRng::seed_from_u64(3);
        let seen: std::collections::BTreeSet<u64> =
            (0..1000).map(|_| exp_rand_size(&mut rng, 5)).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(exp_rand_size(&mut rng, 0), 0);
    }
}
