//! The snowball unpacker (tar in gzip, zstd or nothing) on any bytes: no
//! panic, the decoded bytes stay within their bound, and the members,
//! their data and the outcome do not depend on how the input is split.
#![no_main]

use arbitrary::Arbitrary;
use cairn::s3::snowball::unpack::{Event, UnpackError, Unpacker, DECODED_MAX};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    body: Vec<u8>,
    /// Piece sizes for `push`, cycled.
    splits: Vec<u16>,
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
    let whole = run(&input.body, &mut || usize::MAX);
    let mut i = 0;
    let split = run(&input.body, &mut || {
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
