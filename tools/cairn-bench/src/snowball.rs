//! warp's `snowball` mode: each operation is one PutObject of a tar
//! archive (zstd-compressed with `--compress`) of `--objs.per` objects,
//! sent with `x-amz-meta-snowball-auto-extract: true` so that the server
//! stores its members as objects. The archive is written as Go's
//! `archive/tar` writes it (ustar headers, no padding to a record).

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::data::CHUNK;

/// The header that asks the server to extract (warp's user metadata).
pub const EXTRACT: (&str, &str) = ("x-amz-meta-snowball-auto-extract", "true");

const BLOCK: usize = 512;

/// The objects of one archive, as warp names them: member `i` is
/// `<object i>/<i>.obj` and the archive is PUT as `<next object>.tar`.
/// Without `--compress` every member is a new object (its own name and
/// contents) and the archive's key is the object after the last; with it
/// (warp's `Duplicate`) every member is the one object, whose name the
/// key also takes.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    /// Object counter of each member (its name and its contents).
    pub members: Vec<u64>,
    /// Object counter whose key, with `.tar`, the archive is PUT as.
    pub key: u64,
    /// Object counters used up (the next archive starts after them).
    pub used: u64,
}

pub fn layout(first: u64, per: u64, duplicate: bool) -> Layout {
    if duplicate {
        Layout {
            members: vec![first; per as usize],
            key: first,
            used: 1,
        }
    } else {
        Layout {
            members: (first..first + per).collect(),
            key: first + per,
            used: per + 1,
        }
    }
}

/// `name` of member `i` of an object whose key is `object`.
pub fn member_name(object: &str, i: usize) -> String {
    format!("{object}/{i}.obj")
}

/// Octal, zero-padded to `field.len() - 1` digits and NUL-terminated, as
/// Go's ustar fields.
fn octal(field: &mut [u8], v: u64) -> Result<(), String> {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    if s.len() > digits {
        return Err(format!("{v} does not fit a ustar field"));
    }
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    Ok(())
}

/// The ustar header of a regular file (mode 0777, as warp's
/// `os.ModePerm`; owner 0). A name over 100 bytes is split at a `/` into
/// the 155-byte prefix field and the name field.
pub fn header(name: &str, size: u64, mtime: u64) -> Result<[u8; BLOCK], String> {
    let (prefix, name) = if name.len() <= 100 {
        ("", name)
    } else {
        name.char_indices()
            .filter(|&(i, c)| c == '/' && i <= 155 && name.len() - i - 1 <= 100 && i > 0)
            .map(|(i, _)| (&name[..i], &name[i + 1..]))
            .find(|(_, n)| !n.is_empty())
            .ok_or_else(|| format!("member name too long for ustar: {name}"))?
    };
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o777)?;
    octal(&mut h[108..116], 0)?;
    octal(&mut h[116..124], 0)?;
    octal(&mut h[124..136], size)?;
    octal(&mut h[136..148], mtime)?;
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0)?;
    octal(&mut h[337..345], 0)?;
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum is summed with its own field as spaces.
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum)?;
    h[155] = b' ';
    Ok(h)
}

/// A tar archive of `members` (name, contents), ending with the two zero
/// blocks.
pub fn archive(members: &[(String, Bytes)], mtime: u64) -> Result<Vec<u8>, String> {
    let len: usize = members
        .iter()
        .map(|(_, d)| BLOCK + d.len().next_multiple_of(BLOCK))
        .sum::<usize>()
        + 2 * BLOCK;
    let mut out = Vec::with_capacity(len);
    for (name, data) in members {
        out.extend_from_slice(&header(name, data.len() as u64, mtime)?);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(BLOCK), 0);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

/// warp's encoder window for `--compress`: twice the object, at least
/// 128 KiB, at most 16 MiB; as warp's zstd encoder, it must be a power of
/// two (its log is returned).
pub fn window_log(obj_size: u64) -> Result<u32, String> {
    let window = obj_size.saturating_mul(2).clamp(128 << 10, 16 << 20);
    if !window.is_power_of_two() {
        return Err(format!(
            "--compress: the zstd window (twice --obj.size, 128KiB..16MiB) is {window} bytes, \
             not a power of two (warp's encoder refuses it too)"
        ));
    }
    Ok(window.trailing_zeros())
}

/// warp's limits: at most 1 GiB of archives in memory (`--obj.size` ×
/// `--concurrent`, × `--objs.per` unless compressed), objects of at most
/// 10 MiB when compressed.
pub fn check_sizes(
    obj_size: u64,
    per: u64,
    concurrent: usize,
    compress: bool,
) -> Result<(), String> {
    if compress && obj_size > 10 << 20 {
        return Err("--obj.size must be <= 10MiB when compression is enabled".into());
    }
    let mut total = obj_size.saturating_mul(concurrent as u64);
    if !compress {
        total = total.saturating_mul(per);
    }
    if total > 1 << 30 {
        return Err(format!("total size ({total}) exceeds 1GiB"));
    }
    if total == 0 {
        return Err("parameters result in no expected output".into());
    }
    Ok(())
}

/// warp's zstd encoder, as close as libzstd's stable parameters come: its
/// fastest level, the window above, a checksum, no content size (warp
/// streams into the encoder). klauspost's `WithNoEntropyCompression`
/// (literals left raw) has no stable libzstd switch: literals are
/// Huffman-coded here, which on random contents changes nothing.
pub fn compressor(window_log: u32) -> Result<zstd::bulk::Compressor<'static>, String> {
    use zstd::zstd_safe::CParameter;
    let err = |e: std::io::Error| format!("zstd: {e}");
    let mut c = zstd::bulk::Compressor::new(1).map_err(err)?;
    for p in [
        CParameter::WindowLog(window_log),
        CParameter::ChecksumFlag(true),
        CParameter::ContentSizeFlag(false),
    ] {
        c.set_parameter(p).map_err(err)?;
    }
    Ok(c)
}

/// SHA-256 of each aws-chunked chunk of `body` (for a signed upload).
pub fn chunk_hashes(body: &[u8]) -> std::sync::Arc<[[u8; 32]]> {
    body.chunks(CHUNK)
        .map(|c| Sha256::digest(c).into())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn members() -> Vec<(String, Bytes)> {
        vec![
            ("p/0/0/0.obj".into(), Bytes::from_static(b"hello")),
            ("p/0/1/1.obj".into(), Bytes::from(vec![7u8; 1024])),
            ("p/0/2/2.obj".into(), Bytes::new()),
            // Too long for the name field: split into the prefix field.
            (
                format!("{}/{}/3.obj", "d".repeat(120), "n".repeat(40)),
                Bytes::from_static(b"x"),
            ),
        ]
    }

    #[test]
    fn archives_read_back_with_the_tar_crate() {
        let m = members();
        let tar = archive(&m, 1_700_000_000).unwrap();
        // Header and padded data per member, two zero blocks, and no
        // padding to a 10 KiB record (Go's writer has none).
        assert_eq!(tar.len(), 4 * BLOCK + 2 * BLOCK + 2 * BLOCK + 2 * BLOCK);
        assert!(tar[tar.len() - 2 * BLOCK..].iter().all(|&b| b == 0));
        let mut a = ::tar::Archive::new(&tar[..]);
        let mut n = 0;
        for (entry, (name, data)) in a.entries().unwrap().zip(&m) {
            let mut e = entry.unwrap();
            assert_eq!(e.path().unwrap().to_str().unwrap(), name);
            let h = e.header();
            assert_eq!(h.entry_type(), ::tar::EntryType::Regular);
            assert_eq!(h.mode().unwrap(), 0o777);
            assert_eq!(h.mtime().unwrap(), 1_700_000_000);
            assert_eq!(h.as_ustar().map(|u| u.version), Some(*b"00"));
            let mut got = Vec::new();
            e.read_to_end(&mut got).unwrap();
            assert_eq!(got, data[..]);
            n += 1;
        }
        assert_eq!(n, m.len());
    }

    #[test]
    fn headers_checksum_as_ustar_readers_check_it() {
        let h = header("a/b.obj", 3, 5).unwrap();
        let mut blank = h;
        blank[148..156].fill(b' ');
        let sum: u32 = blank.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(::tar::Header::from_byte_slice(&h).cksum().unwrap(), sum);
        assert!(
            header(&"x".repeat(101), 0, 0).is_err(),
            "no '/' to split at"
        );
        assert!(
            header("a", 1 << 33, 0).is_err(),
            "size over 11 octal digits"
        );
    }

    #[test]
    fn layout_names_members_as_warp() {
        // Plain: a new object per member, the key the object after them.
        assert_eq!(
            layout(10, 3, false),
            Layout {
                members: vec![10, 11, 12],
                key: 13,
                used: 4
            }
        );
        // --compress (warp's Duplicate): one object, its name the key's.
        assert_eq!(
            layout(10, 3, true),
            Layout {
                members: vec![10, 10, 10],
                key: 10,
                used: 1
            }
        );
        assert_eq!(member_name("pre/3/7", 2), "pre/3/7/2.obj");
    }

    #[test]
    fn windows_and_limits_are_warps() {
        assert_eq!(window_log(512 << 10), Ok(20));
        assert_eq!(window_log(4 << 10), Ok(17));
        assert_eq!(window_log(10 << 20), Ok(24));
        assert!(window_log(300 << 10).is_err());
        assert!(check_sizes(512 << 10, 50, 20, false).is_ok());
        assert!(check_sizes(2 << 20, 50, 20, false).is_err());
        assert!(check_sizes(2 << 20, 50, 20, true).is_ok());
        assert!(check_sizes(11 << 20, 1, 1, true).is_err());
    }

    #[test]
    fn compressed_duplicates_shrink_and_decode() {
        let obj = Bytes::from(
            (0..64 << 10)
                .map(|i: u32| (crate::data::mix(u64::from(i)) & 0xff) as u8)
                .collect::<Vec<_>>(),
        );
        let m: Vec<_> = (0..8).map(|i| (member_name("k", i), obj.clone())).collect();
        let tar = archive(&m, 0).unwrap();
        let mut c = compressor(window_log(64 << 10).unwrap()).unwrap();
        let z = c.compress(&tar).unwrap();
        // The window holds the previous member: seven of eight are matches.
        assert!(z.len() < tar.len() / 4, "{} of {}", z.len(), tar.len());
        assert_eq!(zstd::stream::decode_all(&z[..]).unwrap(), tar);
    }
}
