//! Storage classes: which drives and which erasure layout a version's data
//! takes. `STANDARD` is the node's layout over every drive of the set;
//! `REDUCED_REDUNDANCY` the same drives with fewer parity shards (MinIO's
//! `RRS`); operator classes (`[[storage_class]]` in the config file) name a
//! group of the set's drives and a layout of their own, e.g. hot NVMe and
//! cold HDD on one node. Pure: built and checked at start, no I/O.
//!
//! Commit records (and so the bytes of objects small enough to be inline)
//! stay on the node's commit drives whatever the class: they are the
//! index's, not the class's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::layout::Layout;
use super::meta::Attr;

pub const STANDARD: &str = "STANDARD";
pub const REDUCED_REDUNDANCY: &str = "REDUCED_REDUNDANCY";

/// S3's other class names: no operator class may take one (a client that
/// asks for GLACIER must not get a class that only shares its name), and a
/// request naming one is `InvalidStorageClass`.
pub const S3_ONLY: [&str; 10] = [
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
];

/// Most classes a node may define (STANDARD and REDUCED_REDUNDANCY
/// included): a class id is one byte.
pub const MAX_CLASSES: usize = 32;

/// An operator class as the config file gives it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    pub name: String,
    /// The set's drives: an index (0-based, the order of the drive list)
    /// or a path as given in the drive list.
    pub drives: Vec<DriveRef>,
    /// "D+P".
    pub layout: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DriveRef {
    Index(usize),
    Path(PathBuf),
}

/// A class index in a node's [`Classes`]: 0 is STANDARD. Cheap to pass
/// around and across cores (no string per PUT).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClassId(pub u8);

impl ClassId {
    pub const STANDARD: ClassId = ClassId(0);
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageClass {
    pub name: String,
    pub layout: Layout,
    /// Member drives, in set order.
    pub drives: Vec<usize>,
}

impl StorageClass {
    /// The drive of shard `shard` of a stripe whose first shard goes to
    /// member `rotation` (modulo the member count).
    pub fn drive_of(&self, rotation: usize, shard: usize) -> usize {
        self.drives[self.layout.drive_of(rotation, shard, self.drives.len())]
    }
}

/// The classes of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    list: Vec<StorageClass>,
}

/// What a version's record says about its class (absent: STANDARD, data
/// generation 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassAttr {
    pub name: String,
    /// Written in the header `seq` of the version's shard records. A
    /// transition rewrites a version's data under the same identity
    /// (version, part, stripe, shard); the generation tells an index
    /// rebuild which copy its commit record means. 0 until the first
    /// transition.
    pub data_gen: u64,
}

/// The class attribute among a version's (or an upload's) attributes.
pub fn class_attr(attrs: &[Attr]) -> Option<&ClassAttr> {
    attrs.iter().find_map(|a| match a {
        Attr::StorageClass(c) => Some(c),
        _ => None,
    })
}

/// The class name a version's attributes say.
pub fn class_name(attrs: &[Attr]) -> &str {
    class_attr(attrs).map_or(STANDARD, |c| c.name.as_str())
}

/// The data generation of a version's shard records.
pub fn data_gen(attrs: &[Attr]) -> u64 {
    class_attr(attrs).map_or(0, |c| c.data_gen)
}

/// Sets the class attribute: none for STANDARD at generation 0 (what every
/// version written before classes says), so the no-class path is unchanged.
pub fn set_class(attrs: &mut Vec<Attr>, name: &str, data_gen: u64) {
    attrs.retain(|a| !matches!(a, Attr::StorageClass(_)));
    if name != STANDARD || data_gen != 0 {
        attrs.push(Attr::StorageClass(ClassAttr {
            name: name.to_owned(),
            data_gen,
        }));
    }
}

impl Classes {
    /// The classes of a set of `drives` (paths as given) with `layout`:
    /// STANDARD, REDUCED_REDUNDANCY (`rrs_parity` parity shards, same
    /// width; default 1 when STANDARD has 2 or more, else STANDARD's
    /// layout), then `specs`, each checked.
    pub fn build(
        layout: Layout,
        drives: &[PathBuf],
        rrs_parity: Option<u8>,
        specs: &[ClassSpec],
    ) -> Result<Classes, String> {
        let all: Vec<usize> = (0..drives.len()).collect();
        let p = match rrs_parity {
            Some(p) if p > layout.parity => {
                return Err(format!(
                "reduced-redundancy-parity {p} is more than STANDARD's {} parity shards ({layout})",
                layout.parity
            ))
            }
            Some(p) => p,
            None if layout.parity >= 2 => 1,
            None => layout.parity,
        };
        let rrs = Layout {
            data: layout.data + (layout.parity - p),
            parity: p,
        };
        let mut list = vec![
            StorageClass {
                name: STANDARD.to_owned(),
                layout,
                drives: all.clone(),
            },
            StorageClass {
                name: REDUCED_REDUNDANCY.to_owned(),
                layout: rrs,
                drives: all,
            },
        ];
        for s in specs {
            list.push(check_spec(s, drives, &list)?);
        }
        if list.len() > MAX_CLASSES {
            return Err(format!(
                "{} storage classes defined, at most {} (STANDARD and REDUCED_REDUNDANCY included)",
                list.len(),
                MAX_CLASSES
            ));
        }
        Ok(Classes { list })
    }

    pub fn get(&self, id: ClassId) -> &StorageClass {
        &self.list[usize::from(id.0)]
    }

    pub fn standard(&self) -> &StorageClass {
        &self.list[0]
    }

    /// The class a request names, if the node defines it.
    pub fn id_of(&self, name: &str) -> Option<ClassId> {
        self.list
            .iter()
            .position(|c| c.name == name)
            .map(|i| ClassId(i as u8))
    }

    /// The class a version's attributes name; STANDARD when the node no
    /// longer defines it (its data is where its records say; only repair
    /// needs a class, to place a rebuilt shard).
    pub fn of_attrs(&self, attrs: &[Attr]) -> &StorageClass {
        self.id_of(class_name(attrs))
            .map_or(self.standard(), |id| self.get(id))
    }

    /// The drives a stripe set of class `name` (None: STANDARD) with
    /// `layout` takes: its class's, or every drive when the node no longer
    /// defines the class or the class is narrower than the layout.
    pub fn members_for(&self, name: Option<&str>, layout: Layout) -> &[usize] {
        let class = name
            .and_then(|n| self.id_of(n))
            .map(|id| self.get(id))
            .filter(|c| c.drives.len() >= layout.total());
        &class.unwrap_or(self.standard()).drives
    }

    pub fn iter(&self) -> impl Iterator<Item = &StorageClass> {
        self.list.iter()
    }
}

fn check_spec(
    s: &ClassSpec,
    drives: &[PathBuf],
    known: &[StorageClass],
) -> Result<StorageClass, String> {
    let name = s.name.as_str();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(format!(
            "storage class {name:?}: a name is 1 to 64 of A-Z, 0-9 and _"
        ));
    }
    if S3_ONLY.contains(&name) || known.iter().any(|c| c.name == name) {
        return Err(format!(
            "storage class {name:?}: the name is taken (by S3 or by another class)"
        ));
    }
    let layout = Layout::parse(&s.layout).map_err(|e| format!("storage class {name}: {e}"))?;
    let mut members = Vec::with_capacity(s.drives.len());
    for d in &s.drives {
        let i = match d {
            DriveRef::Index(i) if *i < drives.len() => *i,
            DriveRef::Index(i) => {
                return Err(format!(
                    "storage class {name}: drive {i} is not one of the node's {} drives (0-based)",
                    drives.len()
                ))
            }
            DriveRef::Path(p) => drives.iter().position(|x| same_path(x, p)).ok_or_else(|| {
                format!(
                    "storage class {name}: drive {} is not in the node's drive list",
                    p.display()
                )
            })?,
        };
        if members.contains(&i) {
            return Err(format!("storage class {name}: drive {i} is named twice"));
        }
        members.push(i);
    }
    members.sort_unstable();
    if layout.total() > members.len() {
        return Err(format!(
            "storage class {name}: layout {layout} needs {} drives, the class has {}",
            layout.total(),
            members.len()
        ));
    }
    Ok(StorageClass {
        name: name.to_owned(),
        layout,
        drives: members,
    })
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || a.components().eq(b.components())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| PathBuf::from(format!("/mnt/d{i}")))
            .collect()
    }

    fn spec(name: &str, drives: Vec<DriveRef>, layout: &str) -> ClassSpec {
        ClassSpec {
            name: name.into(),
            drives,
            layout: layout.into(),
        }
    }

    #[test]
    fn standard_and_reduced_redundancy_span_every_drive() {
        let c = Classes::build(Layout { data: 4, parity: 2 }, &paths(6), None, &[]).unwrap();
        assert_eq!(c.standard().drives, vec![0, 1, 2, 3, 4, 5]);
        let rrs = c.get(c.id_of(REDUCED_REDUNDANCY).unwrap());
        assert_eq!(rrs.layout, Layout { data: 5, parity: 1 });
        assert_eq!(rrs.drives, c.standard().drives);
        // A mirror has no parity to spare: RRS keeps its layout.
        let c = Classes::build(Layout { data: 1, parity: 1 }, &paths(2), None, &[]).unwrap();
        assert_eq!(c.get(ClassId(1)).layout, Layout { data: 1, parity: 1 });
        let c = Classes::build(Layout { data: 2, parity: 2 }, &paths(4), Some(0), &[]).unwrap();
        assert_eq!(c.get(ClassId(1)).layout, Layout { data: 4, parity: 0 });
        assert!(Classes::build(Layout { data: 2, parity: 2 }, &paths(4), Some(3), &[]).is_err());
    }

    #[test]
    fn an_operator_class_takes_its_drives_by_index_or_path() {
        let d = paths(6);
        let cold = spec(
            "COLD",
            vec![DriveRef::Path("/mnt/d5".into()), DriveRef::Index(4)],
            "1+1",
        );
        let c = Classes::build(Layout { data: 4, parity: 2 }, &d, None, &[cold]).unwrap();
        let id = c.id_of("COLD").unwrap();
        let cold = c.get(id);
        assert_eq!(
            (cold.drives.clone(), cold.layout),
            (vec![4, 5], Layout { data: 1, parity: 1 })
        );
        // Shards rotate over the members only.
        assert_eq!((cold.drive_of(0, 0), cold.drive_of(0, 1)), (4, 5));
        assert_eq!((cold.drive_of(7, 0), cold.drive_of(7, 1)), (5, 4));
        assert_eq!(c.id_of("GLACIER"), None);
        assert_eq!(c.id_of("cold"), None);
    }

    #[test]
    fn a_bad_class_is_refused_at_start_with_its_reason() {
        let d = paths(4);
        let l = Layout { data: 2, parity: 2 };
        let bad = |s: ClassSpec, why: &str| {
            let e = Classes::build(l, &d, None, &[s]).unwrap_err();
            assert!(e.contains(why), "{e}");
        };
        bad(
            spec("HOT", vec![DriveRef::Index(4)], "1+0"),
            "not one of the node's 4 drives",
        );
        bad(
            spec("HOT", vec![DriveRef::Path("/x".into())], "1+0"),
            "not in the node's drive list",
        );
        bad(
            spec("HOT", vec![DriveRef::Index(0)], "1+1"),
            "needs 2 drives",
        );
        bad(
            spec("HOT", vec![DriveRef::Index(0), DriveRef::Index(0)], "1+0"),
            "named twice",
        );
        bad(spec("GLACIER", vec![DriveRef::Index(0)], "1+0"), "taken");
        bad(spec("STANDARD", vec![DriveRef::Index(0)], "1+0"), "taken");
        bad(spec("hot", vec![DriveRef::Index(0)], "1+0"), "A-Z");
        bad(spec("HOT", vec![DriveRef::Index(0)], "0+1"), "data count");
        let two = [
            spec("HOT", vec![DriveRef::Index(0)], "1+0"),
            spec("HOT", vec![DriveRef::Index(1)], "1+0"),
        ];
        assert!(Classes::build(l, &d, None, &two)
            .unwrap_err()
            .contains("taken"));
    }

    #[test]
    fn standard_at_generation_zero_adds_no_attribute() {
        let mut a = Vec::new();
        set_class(&mut a, STANDARD, 0);
        assert!(a.is_empty());
        assert_eq!((class_name(&a), data_gen(&a)), (STANDARD, 0));
        set_class(&mut a, "COLD", 0);
        set_class(&mut a, "COLD", 9);
        assert_eq!(a.len(), 1);
        assert_eq!((class_name(&a), data_gen(&a)), ("COLD", 9));
        set_class(&mut a, STANDARD, 10);
        assert_eq!((class_name(&a), data_gen(&a)), (STANDARD, 10));
    }
}
