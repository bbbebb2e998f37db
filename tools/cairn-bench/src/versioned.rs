//! warp's `versioned` mode: its operation sequence and its pool of object
//! versions. Each GET and STAT names a random version, each PUT adds a
//! version to an existing object, each DELETE removes one version for good
//! (DELETE with `versionId`).

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    Stat,
    Put,
    Delete,
}

/// warp's sequence: 1,000 operations in the proportions of the weights
/// (each rounded), shuffled with a fixed seed, which all workers walk
/// through in turn, again and again.
pub fn sequence(get: f64, stat: f64, put: f64, delete: f64) -> Result<Vec<Op>, String> {
    let weights = [
        (Op::Get, get),
        (Op::Stat, stat),
        (Op::Put, put),
        (Op::Delete, delete),
    ];
    if let Some((op, _)) = weights.iter().find(|(_, w)| *w < 0.0 || !w.is_finite()) {
        return Err(format!("negative distribution requested for {op:?}"));
    }
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return Err("no distribution set, total is 0".into());
    }
    const OPS: f64 = 1000.0;
    let mut ops = Vec::with_capacity(1004);
    for (op, w) in weights {
        let n = (0.5 + w / total * OPS) as usize;
        ops.extend(std::iter::repeat_n(op, n));
    }
    ops.shuffle(&mut SmallRng::seed_from_u64(0xabad_1dea));
    Ok(ops)
}

/// One stored version: its id, and the object id of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub id: String,
    pub content: u64,
}

/// Every object's versions that are neither being read nor deleted. A read
/// takes its version out until it ends (so no DELETE removes it meanwhile),
/// as warp's `randomObjRead`.
#[derive(Default)]
pub struct Pool {
    /// (object id, its versions).
    objects: Vec<(u64, Vec<Version>)>,
}

impl Pool {
    pub fn new(uploaded: Vec<(u64, String)>) -> Pool {
        let mut objects: Vec<(u64, Vec<Version>)> = Vec::new();
        for (id, v) in uploaded {
            let version = Version { id: v, content: id };
            match objects.iter_mut().find(|(o, _)| *o == id) {
                Some((_, vs)) => vs.push(version),
                None => objects.push((id, vec![version])),
            }
        }
        Pool { objects }
    }

    /// A random version of a random object that has one, taken out of the
    /// pool: hand it back with [`Pool::put_back`] (read) or not (deleted).
    pub fn take(&mut self, rng: &mut SmallRng) -> Option<(u64, Version)> {
        let n = self.objects.len();
        if n == 0 {
            return None;
        }
        let start = rng.gen_range(0..n);
        let i = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| !self.objects[i].1.is_empty())?;
        let (object, versions) = &mut self.objects[i];
        let v = versions.swap_remove(rng.gen_range(0..versions.len()));
        Some((*object, v))
    }

    pub fn put_back(&mut self, object: u64, v: Version) {
        match self.objects.iter_mut().find(|(o, _)| *o == object) {
            Some((_, vs)) => vs.push(v),
            None => self.objects.push((object, vec![v])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_has_warps_proportions_and_order() {
        let s = sequence(45.0, 30.0, 15.0, 10.0).unwrap();
        let count = |op| s.iter().filter(|o| **o == op).count();
        assert_eq!(
            (
                count(Op::Get),
                count(Op::Stat),
                count(Op::Put),
                count(Op::Delete)
            ),
            (450, 300, 150, 100)
        );
        // Shuffled, and the same every run.
        assert_ne!(&s[..450], &[Op::Get; 450][..]);
        assert_eq!(s, sequence(45.0, 30.0, 15.0, 10.0).unwrap());
        // Weights are normalised.
        let half = sequence(1.0, 0.0, 1.0, 0.0).unwrap();
        assert_eq!(half.iter().filter(|o| **o == Op::Get).count(), 500);
        assert!(sequence(1.0, -1.0, 0.0, 0.0).is_err());
        assert!(sequence(0.0, 0.0, 0.0, 0.0).is_err());
    }

    #[test]
    fn a_version_being_read_cannot_be_taken_again() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut pool = Pool::new(vec![(7, "a".into()), (7, "b".into()), (9, "c".into())]);
        let taken: Vec<_> = (0..3).map(|_| pool.take(&mut rng).unwrap()).collect();
        assert!(pool.take(&mut rng).is_none(), "all three are out");
        let mut ids: Vec<&str> = taken.iter().map(|(_, v)| v.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["a", "b", "c"]);
        let (o, v) = taken.into_iter().find(|(_, v)| v.id == "c").unwrap();
        assert_eq!((o, v.content), (9, 9));
        pool.put_back(o, v);
        assert_eq!(
            pool.take(&mut rng).map(|(o, v)| (o, v.id)),
            Some((9, "c".into()))
        );
    }
}
