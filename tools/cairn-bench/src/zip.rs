//! The zip archive of warp's `zip` mode, as Go's `archive/zip` writes it
//! with `CreateHeader` into a stream: members stored (method 0), no
//! modification time, sizes and CRC-32 in a data descriptor after each
//! member, then the central directory. No zip64: at most 65,535 members
//! and 4 GiB.

use bytes::Bytes;

const VERSION: u16 = 20;
/// Sizes and CRC follow the data (bit 3).
const DESCRIPTOR: u16 = 0x8;

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn archive(members: &[(String, Bytes)]) -> Result<Vec<u8>, String> {
    let total: usize = members
        .iter()
        .map(|(n, d)| 100 + 2 * n.len() + d.len())
        .sum();
    if members.len() > usize::from(u16::MAX) || total as u64 >= u64::from(u32::MAX) {
        return Err("zip: more than 65,535 files or 4 GiB (zip64 is not written)".into());
    }
    let mut out = Vec::with_capacity(total + 22);
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(data);
        let (len, name_len) = (data.len() as u32, name.len() as u16);
        u32le(&mut out, 0x0403_4b50);
        for v in [VERSION, DESCRIPTOR, 0, 0, 0] {
            u16le(&mut out, v);
        }
        for _ in 0..3 {
            u32le(&mut out, 0);
        }
        u16le(&mut out, name_len);
        u16le(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        for v in [0x0807_4b50, crc, len, len] {
            u32le(&mut out, v);
        }
        u32le(&mut central, 0x0201_4b50);
        for v in [VERSION, VERSION, DESCRIPTOR, 0, 0, 0] {
            u16le(&mut central, v);
        }
        for v in [crc, len, len] {
            u32le(&mut central, v);
        }
        for v in [name_len, 0, 0, 0, 0] {
            u16le(&mut central, v);
        }
        u32le(&mut central, 0);
        u32le(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_len) = (out.len() as u32, central.len() as u32);
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    let n = members.len() as u16;
    for v in [0, 0, n, n] {
        u16le(&mut out, v);
    }
    u32le(&mut out, cd_len);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], i: usize) -> usize {
        usize::from(u16::from_le_bytes([b[i], b[i + 1]]))
    }

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    /// Reads an archive as unzip does, from the end: the central
    /// directory, then each member's local header and data.
    fn read(z: &[u8]) -> Vec<(String, Vec<u8>)> {
        let end = z.len() - 22;
        assert_eq!(u32_at(z, end), 0x0605_4b50);
        let n = u16_at(z, end + 10);
        let mut at = u32_at(z, end + 16) as usize;
        assert_eq!(at + u32_at(z, end + 12) as usize, end);
        let mut out = Vec::new();
        for _ in 0..n {
            assert_eq!(u32_at(z, at), 0x0201_4b50);
            assert_eq!(u16_at(z, at + 10), 0, "stored");
            let (crc, size) = (u32_at(z, at + 16), u32_at(z, at + 24) as usize);
            let name_len = u16_at(z, at + 28);
            let local = u32_at(z, at + 42) as usize;
            let name = String::from_utf8(z[at + 46..at + 46 + name_len].to_vec()).unwrap();
            assert_eq!(u32_at(z, local), 0x0403_4b50);
            assert_eq!(u16_at(z, local + 6), usize::from(DESCRIPTOR));
            let data_at = local + 30 + u16_at(z, local + 26) + u16_at(z, local + 28);
            assert_eq!(&z[local + 30..local + 30 + name_len], name.as_bytes());
            let data = z[data_at..data_at + size].to_vec();
            assert_eq!(crc32fast::hash(&data), crc);
            let desc = data_at + size;
            assert_eq!(u32_at(z, desc), 0x0807_4b50);
            assert_eq!(
                (u32_at(z, desc + 4), u32_at(z, desc + 12)),
                (crc, size as u32)
            );
            out.push((name, data));
            at += 46 + name_len;
        }
        out
    }

    #[test]
    fn stored_members_read_back_through_the_central_directory() {
        let members = vec![
            ("0.obj".to_owned(), Bytes::from_static(b"hello")),
            ("1.obj".to_owned(), Bytes::new()),
            ("2.obj".to_owned(), Bytes::from(vec![9u8; 70_000])),
        ];
        let z = archive(&members).unwrap();
        let got = read(&z);
        assert_eq!(got.len(), 3);
        for ((n, d), (gn, gd)) in members.iter().zip(&got) {
            assert_eq!((n, &d[..]), (gn, &gd[..]));
        }
    }
}
