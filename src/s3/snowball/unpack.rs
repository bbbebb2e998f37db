//! An archive's bytes in, its members out: the decompression of
//! [`super::archive`] and the tar parser of [`super::tar`] together, with
//! the decoded bytes between them bounded. No I/O: the caller pushes
//! input when asked and takes one event at a time.

use bytes::{Buf, Bytes, BytesMut};

use super::archive::{ArchiveError, Compression, Decoded, Decoder};
use super::tar::{Member, Step, TarError, TarParser, BLOCK};

/// Decoded bytes held at most: the parser needs one header at a time and
/// streams data out as it comes.
pub const DECODED_MAX: usize = 256 << 10;
const _: () = assert!(DECODED_MAX >= BLOCK);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Push more input ([`Unpacker::push`]) or say there is none
    /// ([`Unpacker::end_input`]).
    NeedInput,
    Member(Member),
    Data(Bytes),
    MemberEnd,
    /// The input ended and the archive is whole: nothing truncated, every
    /// compressed frame complete and its checksum good.
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnpackError {
    Tar(TarError),
    Archive(ArchiveError),
}

impl std::fmt::Display for UnpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnpackError::Tar(e) => e.fmt(f),
            UnpackError::Archive(e) => e.fmt(f),
        }
    }
}

impl From<TarError> for UnpackError {
    fn from(e: TarError) -> Self {
        UnpackError::Tar(e)
    }
}

impl From<ArchiveError> for UnpackError {
    fn from(e: ArchiveError) -> Self {
        UnpackError::Archive(e)
    }
}

#[derive(Default)]
pub struct Unpacker {
    /// Known once the first bytes are in.
    decoder: Option<Decoder>,
    /// The first bytes, until the compression is told from them.
    head: Vec<u8>,
    decoded: BytesMut,
    parser: TarParser,
    input_ended: bool,
    finished: bool,
}

impl Unpacker {
    /// Decodes what fits of `input`: the bytes taken and made. Does
    /// neither when the decoded bytes are at their bound: take events
    /// first.
    pub fn push(&mut self, input: &[u8]) -> Result<Decoded, UnpackError> {
        debug_assert!(!self.input_ended);
        let Some(decoder) = self.decoder.as_mut() else {
            let n = (4 - self.head.len()).min(input.len());
            self.head.extend_from_slice(&input[..n]);
            if let Some(c) = Compression::detect(&self.head, false) {
                self.start(c)?;
            }
            return Ok(Decoded {
                used: n,
                produced: 0,
            });
        };
        let room = DECODED_MAX.saturating_sub(self.decoded.len());
        Ok(decoder.decode(input, &mut self.decoded, room)?)
    }

    fn start(&mut self, c: Compression) -> Result<(), UnpackError> {
        let mut d = Decoder::new(c)?;
        let head = std::mem::take(&mut self.head);
        let used = d.decode(&head, &mut self.decoded, DECODED_MAX)?.used;
        // The head is at most 4 bytes and the room is empty: all taken.
        if used != head.len() {
            return Err(ArchiveError("the archive's first bytes were not decoded".into()).into());
        }
        self.decoder = Some(d);
        Ok(())
    }

    /// There is no more input.
    pub fn end_input(&mut self) -> Result<(), UnpackError> {
        if self.decoder.is_none() {
            let c = Compression::detect(&self.head, true).unwrap_or(Compression::None);
            self.start(c)?;
        }
        self.input_ended = true;
        Ok(())
    }

    pub fn next_event(&mut self) -> Result<Event, UnpackError> {
        // Bounded: every turn returns, or consumes decoded bytes, or
        // decodes held-back output (finite for finite input).
        loop {
            if self.finished {
                return Ok(Event::Finished);
            }
            let (used, step) = self.parser.step(&self.decoded)?;
            if let Step::Data(n) = step {
                return Ok(Event::Data(self.decoded.split_to(n).freeze()));
            }
            self.decoded.advance(used);
            match step {
                Step::Member(m) => return Ok(Event::Member(m)),
                Step::MemberEnd => return Ok(Event::MemberEnd),
                // Whatever follows the marker is padding, but a compressed
                // stream is still read to its end for its checksum.
                Step::End | Step::NeedMore | Step::Data(_) => {}
            }
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(Event::NeedInput);
            };
            let room = DECODED_MAX.saturating_sub(self.decoded.len());
            if decoder.decode(&[], &mut self.decoded, room)?.produced > 0 {
                continue;
            }
            if !self.input_ended {
                return Ok(Event::NeedInput);
            }
            decoder.finish()?;
            self.parser.finish()?;
            self.finished = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::archive::Compression;
    use super::super::tar::Kind;
    use super::*;
    use std::io::Write;

    /// (name, kind, data) as a test expects a member.
    type Out = (String, Kind, Vec<u8>);

    fn data(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    /// An archive from the `tar` crate: sizes around the block, a GNU long
    /// name, a PAX path, a directory, a symlink (skipped) and names with
    /// slashes.
    fn sample() -> (Vec<u8>, Vec<Out>) {
        let mut b = ::tar::Builder::new(Vec::new());
        let mut want = Vec::new();
        let mut add = |b: &mut ::tar::Builder<Vec<u8>>, name: &str, body: Vec<u8>| {
            let mut h = ::tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(::tar::EntryType::Regular);
            b.append_data(&mut h, name, body.as_slice()).unwrap();
            want.push((name.to_owned(), Kind::File, body));
        };
        for (i, n) in [0usize, 1, 511, 512, 513, 100_000].into_iter().enumerate() {
            add(&mut b, &format!("dir/sub/f{i}.bin"), data(n, i as u8));
        }
        let long = format!("deep/{}/end.txt", "x".repeat(150));
        add(&mut b, &long, data(700, 9));
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        b.append_data(&mut h, "empty-dir/", std::io::empty()).unwrap();
        want.push(("empty-dir".to_owned(), Kind::Dir, Vec::new()));
        let mut h = ::tar::Header::new_gnu();
        h.set_entry_type(::tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", "dir/sub/f1.bin").unwrap();
        let pax_name = format!("pax/{}.dat", "p".repeat(200));
        b.append_pax_extensions([("path", pax_name.as_bytes())])
            .unwrap();
        let mut h = ::tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_path("pax/short-name").unwrap();
        h.set_cksum();
        b.append(&h, &b"pax"[..]).unwrap();
        want.push((pax_name, Kind::File, b"pax".to_vec()));
        (b.into_inner().unwrap(), want)
    }

    fn compress(c: Compression, tar: &[u8]) -> Vec<u8> {
        match c {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(tar).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::stream::encode_all(tar, 3).unwrap(),
        }
    }

    /// Unpacks `input` pushed in pieces of the given sizes (cycled).
    fn unpack(input: &[u8], sizes: &[usize]) -> Result<Vec<Out>, UnpackError> {
        let mut up = Unpacker::default();
        let mut out: Vec<Out> = Vec::new();
        let (mut pos, mut turn) = (0usize, 0usize);
        let mut pending: &[u8] = &[];
        loop {
            match up.next_event()? {
                Event::NeedInput => {
                    if pending.is_empty() {
                        if pos == input.len() {
                            up.end_input()?;
                            continue;
                        }
                        let n = sizes[turn % sizes.len()].min(input.len() - pos);
                        turn += 1;
                        pending = &input[pos..pos + n];
                        pos += n;
                    }
                    let d = up.push(pending)?;
                    assert!(d.used > 0 || d.produced > 0, "no progress");
                    pending = &pending[d.used..];
                }
                Event::Member(m) => {
                    let name = String::from_utf8(m.name).unwrap();
                    out.push((name.trim_end_matches('/').to_owned(), m.kind, Vec::new()));
                }
                Event::Data(b) => out.last_mut().unwrap().2.extend_from_slice(&b),
                Event::MemberEnd => {}
                Event::Finished => return Ok(out),
            }
            assert!(up.decoded.len() <= DECODED_MAX);
        }
    }

    #[test]
    fn members_come_out_whole_however_the_archive_is_split() {
        let (tar, want) = sample();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let input = compress(c, &tar);
            for sizes in [&[usize::MAX][..], &[1], &[7, 4096, 3], &[511, 513]] {
                let got = unpack(&input, sizes).unwrap_or_else(|e| panic!("{c:?} {sizes:?}: {e}"));
                assert_eq!(got, want, "{c:?} split {sizes:?}");
            }
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let (tar, _) = sample();
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let input = compress(c, &tar);
            // The tar crate ends with two zero blocks; cutting into the
            // second still leaves a marker, so plain tars are cut before it.
            let end = match c {
                Compression::None => input.len() - 2 * 512 + 1,
                _ => input.len(),
            };
            let step = (end / 300).max(1);
            for cut in (0..end).step_by(step).chain([end - 1]) {
                assert!(
                    unpack(&input[..cut], &[4096]).is_err(),
                    "{c:?} cut at {cut} of {} was accepted",
                    input.len()
                );
            }
        }
    }

    #[test]
    fn damage_is_refused() {
        let (tar, _) = sample();
        // A header byte: its checksum fails.
        let mut bad = tar.clone();
        bad[10] ^= 0x20;
        assert_eq!(
            unpack(&bad, &[usize::MAX]),
            Err(UnpackError::Tar(TarError::Checksum))
        );
        // A data byte inside gzip or zstd: the frame's checksum (or the
        // deflate stream itself) fails.
        for c in [Compression::Gzip, Compression::Zstd] {
            let mut z = compress(c, &tar);
            let i = z.len() / 2;
            z[i] ^= 0x55;
            assert!(unpack(&z, &[usize::MAX]).is_err(), "{c:?} damage accepted");
        }
        assert!(unpack(b"not a tar at all, just text", &[usize::MAX]).is_err());
    }

    #[test]
    fn a_compression_bomb_stays_within_the_decoded_bound() {
        let mut b = ::tar::Builder::new(Vec::new());
        let zeros = vec![0u8; 64 << 20];
        let mut h = ::tar::Header::new_gnu();
        h.set_size(zeros.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "zeros", zeros.as_slice()).unwrap();
        let z = compress(Compression::Zstd, &b.into_inner().unwrap());
        assert!(z.len() < 1 << 20);
        // `unpack` asserts the bound after every event.
        let got = unpack(&z, &[usize::MAX]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].2.len(), 64 << 20);
    }

    #[test]
    fn an_empty_archive_has_no_members() {
        let tar = ::tar::Builder::new(Vec::new()).into_inner().unwrap();
        assert_eq!(unpack(&tar, &[usize::MAX]), Ok(Vec::new()));
        assert!(unpack(&[], &[1]).is_err());
    }
}
