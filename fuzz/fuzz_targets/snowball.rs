//! The snowball unpacker (tar in gzip, zstd or nothing) on any bytes and on
//! archives built here from fuzzed members (ustar headers written from the
//! format's description, then compressed, then perhaps damaged or cut): no
//! panic, the decoded bytes stay within their bound, the members, their
//! data and the outcome do not depend on how the input is split, and an
//! intact built archive unpacks to exactly its members.
#![no_main]

use arbitrary::Arbitrary;
use cairn::s3::snowball::unpack::{Event, UnpackError, Unpacker, DECODED_MAX};
use libfuzzer_sys::fuzz_target;
use std::io::Write;

#[derive(Arbitrary, Debug)]
struct Input {
    body: Body,
    /// Piece sizes for `push`, cycled.
    splits: Vec<u16>,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Built {
        /// (name, data, is a directory).
        members: Vec<(Vec<u8>, Vec<u8>, bool)>,
        compression: u8,
        /// (position, xor) applied after compressing.
        flips: Vec<(u16, u8)>,
        /// Keep only this many bytes.
        cut: Option<u16>,
    },
}

/// A ustar header for `name` (at most 100 bytes kept) of `size` bytes.
fn header(name: &[u8], size: usize, dir: bool) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = if dir { b'5' } else { b'0' };
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// The archive and what it should unpack to (names as stored, data).
fn build(members: &[(Vec<u8>, Vec<u8>, bool)]) -> (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>) {
    let mut tar = Vec::new();
    let mut want = Vec::new();
    for (name, data, dir) in members {
        // NUL ends a name in a header; an empty name is still a member.
        let name: Vec<u8> = name.iter().copied().take_while(|&b| b != 0).take(100).collect();
        let data: &[u8] = if *dir { &[] } else { data };
        tar.extend_from_slice(&header(&name, data.len(), *dir));
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
        want.push((name, data.to_vec()));
    }
    tar.extend_from_slice(&[0u8; 1024]);
    (tar, want)
}

fn compress(c: u8, tar: Vec<u8>) -> Vec<u8> {
    match c % 3 {
        0 => tar,
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar).expect("in memory");
            e.finish().expect("in memory")
        }
        _ => zstd::stream::encode_all(tar.as_slice(), 1).expect("in memory"),
    }
}

type Outcome = (Vec<(Vec<u8>, Vec<u8>)>, Result<(), UnpackError>);

fn run(body: &[u8], sizes: &mut dyn FnMut() -> usize) -> Outcome {
    let mut up = Unpacker::default();
    let mut members: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let (mut pos, mut pending) = (0usize, &body[..0]);
    // Bounded: every turn takes input, ends it, or returns an event, and
    // the decoded bytes are finite for the first two of these.
    for _ in 0..10_000_000u32 {
        let ev = match up.next_event() {
            Ok(ev) => ev,
            Err(e) => return (members, Err(e)),
        };
        match ev {
            Event::NeedInput => {
                if pending.is_empty() {
                    if pos == body.len() {
                        if let Err(e) = up.end_input() {
                            return (members, Err(e));
                        }
                        continue;
                    }
                    let n = sizes().max(1).min(body.len() - pos);
                    pending = &body[pos..pos + n];
                    pos += n;
                }
                match up.push(pending) {
                    Ok(d) => {
                        assert!(d.used > 0 || d.produced > 0, "no progress");
                        pending = &pending[d.used..];
                    }
                    Err(e) => return (members, Err(e)),
                }
            }
            Event::Member(m) => members.push((m.name, Vec::new())),
            Event::Data(b) => {
                assert!(b.len() <= DECODED_MAX);
                match members.last_mut() {
                    Some(m) => m.1.extend_from_slice(&b),
                    None => panic!("data before any member"),
                }
            }
            Event::MemberEnd => {}
            Event::Finished => return (members, Ok(())),
        }
    }
    panic!("the unpacker never finished");
}

fuzz_target!(|input: Input| {
    let (body, intact) = match input.body {
        Body::Raw(b) => (b, None),
        Body::Built {
            members,
            compression,
            flips,
            cut,
        } => {
            let (tar, want) = build(&members);
            let mut z = compress(compression, tar);
            let damaged = !flips.is_empty() || cut.is_some_and(|c| usize::from(c) < z.len());
            for (pos, x) in flips {
                if !z.is_empty() {
                    let i = usize::from(pos) % z.len();
                    z[i] ^= x;
                }
            }
            if let Some(c) = cut {
                z.truncate(usize::from(c));
            }
            (z, (!damaged).then_some(want))
        }
    };
    let whole = run(&body, &mut || usize::MAX);
    if let Some(want) = intact {
        assert_eq!(whole.1, Ok(()), "an intact archive was refused");
        assert_eq!(whole.0, want);
    }
    let mut i = 0;
    let split = run(&body, &mut || {
        let n = input
            .splits
            .get(i % input.splits.len().max(1))
            .map_or(usize::MAX, |&n| usize::from(n));
        i += 1;
        n
    });
    // Where an error is found may differ; whether there is one may not,
    // nor what an accepted archive holds.
    assert_eq!(whole.1.is_ok(), split.1.is_ok(), "outcome depends on the split");
    if whole.1.is_ok() {
        assert_eq!(whole.0, split.0);
    }
});
