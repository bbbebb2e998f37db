//! A push parser for tar archives (POSIX ustar, GNU and PAX) as clients
//! pack them for snowball uploads. No I/O: the caller hands it the
//! archive's bytes as they are decoded and takes one step at a time, so
//! the same parser checks a whole archive while it is received and streams
//! its members into objects afterwards.

use std::fmt;

pub const BLOCK: usize = 512;
/// Longest GNU long name or PAX header accepted: names are at most 1,024
/// bytes as keys, so anything longer is a damaged or hostile archive.
pub const MAX_EXTENDED: u64 = 64 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// A member as its header (and any GNU or PAX extension) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The raw name, not yet checked or normalised.
    pub name: Vec<u8>,
    pub size: u64,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing more from these bytes: call again with more.
    NeedMore,
    /// A member starts; its data follows as `Data`, then `MemberEnd`.
    Member(Member),
    /// The first `n` bytes of the input are the current member's data.
    Data(usize),
    MemberEnd,
    /// The end-of-archive marker: whatever follows is padding.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarError {
    /// A header's checksum does not match it: not a tar, or damaged.
    Checksum,
    /// A numeric field is neither octal nor base-256.
    Number,
    /// A GNU long name or PAX header is malformed or too long.
    Extended,
    /// The archive ends inside a header or a member.
    Truncated,
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TarError::Checksum => "a tar header's checksum does not match",
            TarError::Number => "a tar header holds an invalid number",
            TarError::Extended => "a tar long name or PAX header is malformed",
            TarError::Truncated => "the tar archive is truncated",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extension {
    LongName,
    Pax,
}

#[derive(Debug)]
enum State {
    Header,
    /// `then_skip`: data after the member that is not its own (a
    /// directory header with a size).
    Data { left: u64, pad: usize, then_skip: u64 },
    Extended { what: Extension, left: u64, pad: usize },
    Skip { left: u64 },
    End,
}

#[derive(Debug)]
pub struct TarParser {
    state: State,
    ext: Vec<u8>,
    /// From a GNU long name or a PAX `path`, for the next header.
    next_name: Option<Vec<u8>>,
    /// From a PAX `size`, for the next header.
    next_size: Option<u64>,
}

impl Default for TarParser {
    fn default() -> Self {
        TarParser {
            state: State::Header,
            ext: Vec::new(),
            next_name: None,
            next_size: None,
        }
    }
}

fn padding(size: u64) -> usize {
    // The remainder is below BLOCK, so it fits usize.
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

impl TarParser {
    /// Consumes what it can of `input` up to the next step; returns the
    /// bytes consumed and the step. `Data(n)` always consumes exactly the
    /// `n` bytes it names. A header is consumed only whole: with fewer
    /// than 512 bytes left the step is `NeedMore` and those bytes stay
    /// with the caller.
    pub fn step(&mut self, input: &[u8]) -> Result<(usize, Step), TarError> {
        let mut used = 0usize;
        // Bounded: every turn consumes a header or all of `input` that the
        // state wants, or returns.
        loop {
            let rest = &input[used..];
            match &mut self.state {
                State::End => return Ok((input.len(), Step::NeedMore)),
                State::Data {
                    left,
                    pad,
                    then_skip,
                } => {
                    if *left > 0 {
                        if used > 0 || rest.is_empty() {
                            return Ok((used, Step::NeedMore));
                        }
                        let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                        *left -= n as u64;
                        return Ok((n, Step::Data(n)));
                    }
                    let n = (*pad).min(rest.len());
                    *pad -= n;
                    used += n;
                    if *pad > 0 {
                        return Ok((used, Step::NeedMore));
                    }
                    self.state = skip(*then_skip);
                    return Ok((used, Step::MemberEnd));
                }
                State::Skip { left } => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    *left -= n as u64;
                    used += n;
                    if *left > 0 {
                        return Ok((used, Step::NeedMore));
                    }
                    self.state = State::Header;
                }
                State::Extended { what, left, pad } => {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    self.ext.extend_from_slice(&rest[..n]);
                    *left -= n as u64;
                    used += n;
                    let p = (*pad).min(rest.len() - n);
                    *pad -= p;
                    used += p;
                    if *left > 0 || *pad > 0 {
                        return Ok((used, Step::NeedMore));
                    }
                    let what = *what;
                    self.state = State::Header;
                    self.apply_extension(what)?;
                }
                State::Header => {
                    let Some(block) = rest.get(..BLOCK) else {
                        return Ok((used, Step::NeedMore));
                    };
                    used += BLOCK;
                    if let Some(step) = self.header(block)? {
                        return Ok((used, step));
                    }
                }
            }
        }
    }

    /// At the end of the decoded archive: whether it ended cleanly, with
    /// its end-of-archive marker. Every archiver writes one, and without
    /// it an archive cut at a member boundary would pass as whole.
    pub fn finish(&self) -> Result<(), TarError> {
        match self.state {
            State::End => Ok(()),
            _ => Err(TarError::Truncated),
        }
    }

    fn header(&mut self, block: &[u8]) -> Result<Option<Step>, TarError> {
        if block.iter().all(|&b| b == 0) {
            self.state = State::End;
            return Ok(Some(Step::End));
        }
        check_sum(block)?;
        let size = match self.next_size.take() {
            Some(s) => s,
            None => number(&block[124..136])?,
        };
        let typeflag = block[156];
        match typeflag {
            b'L' | b'x' => {
                if size > MAX_EXTENDED {
                    return Err(TarError::Extended);
                }
                self.ext.clear();
                let what = if typeflag == b'L' {
                    Extension::LongName
                } else {
                    Extension::Pax
                };
                self.state = State::Extended {
                    what,
                    left: size,
                    pad: padding(size),
                };
                return Ok(None);
            }
            b'0' | 0 | b'7' | b'5' => {}
            // Links, devices, global PAX headers, GNU extensions: nothing
            // an object can hold, so skipped with their data (as MinIO).
            _ => {
                self.next_name = None;
                self.state = skip(size);
                return Ok(None);
            }
        }
        let name = match self.next_name.take() {
            Some(n) => n,
            None => header_name(block),
        };
        let kind = if typeflag == b'5' {
            Kind::Dir
        } else {
            Kind::File
        };
        // A directory's data, if any, is not an object's.
        let (data, then_skip) = match kind {
            Kind::Dir => (0, size),
            Kind::File => (size, 0),
        };
        self.state = State::Data {
            left: data,
            pad: padding(data),
            then_skip,
        };
        Ok(Some(Step::Member(Member {
            name,
            size: data,
            kind,
        })))
    }

    fn apply_extension(&mut self, what: Extension) -> Result<(), TarError> {
        match what {
            Extension::LongName => {
                let end = self.ext.iter().position(|&b| b == 0).unwrap_or(self.ext.len());
                self.next_name = Some(self.ext[..end].to_vec());
            }
            Extension::Pax => {
                let (path, size) = pax_records(&self.ext)?;
                if path.is_some() {
                    self.next_name = path;
                }
                if size.is_some() {
                    self.next_size = size;
                }
            }
        }
        Ok(())
    }
}

/// Skipping `size` bytes of data and their padding.
fn skip(size: u64) -> State {
    if size == 0 {
        State::Header
    } else {
        State::Skip {
            left: size.saturating_add(padding(size) as u64),
        }
    }
}

/// The header checksum: the sum of its bytes with the checksum field read
/// as spaces. Old archivers summed signed bytes; both are accepted.
fn check_sum(block: &[u8]) -> Result<(), TarError> {
    let stored = number(&block[148..156]).map_err(|_| TarError::Checksum)?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(TarError::Checksum)
    }
}

/// A numeric field: octal digits between optional spaces and NULs, or
/// GNU's base-256 (the high bit of the first byte set) for large values.
fn number(field: &[u8]) -> Result<u64, TarError> {
    if let Some((&first, rest)) = field.split_first() {
        if first & 0x80 != 0 {
            // Negative values (0xff) are never a size.
            if first != 0x80 {
                return Err(TarError::Number);
            }
            let mut v = 0u64;
            for &b in rest {
                v = v
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(u64::from(b)))
                    .ok_or(TarError::Number)?;
            }
            return Ok(v);
        }
    }
    let trimmed: &[u8] = {
        let start = field.iter().position(|&b| b != b' ' && b != 0);
        match start {
            None => return Ok(0),
            Some(s) => {
                let f = &field[s..];
                let end = f.iter().position(|&b| b == b' ' || b == 0).unwrap_or(f.len());
                // After the digits only spaces and NULs may follow.
                if f[end..].iter().any(|&b| b != b' ' && b != 0) {
                    return Err(TarError::Number);
                }
                &f[..end]
            }
        }
    };
    let mut v = 0u64;
    for &b in trimmed {
        if !(b'0'..=b'7').contains(&b) {
            return Err(TarError::Number);
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(TarError::Number)?;
    }
    Ok(v)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// The name field, joined to the ustar prefix field in POSIX archives
/// (GNU archives use that space for other things).
fn header_name(block: &[u8]) -> Vec<u8> {
    let name = cstr(&block[..100]);
    let posix = &block[257..263] == b"ustar\0";
    let prefix = if posix { cstr(&block[345..500]) } else { &[] };
    if prefix.is_empty() {
        name.to_vec()
    } else {
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        full
    }
}

/// PAX records (`"<len> <key>=<value>\n"`, `len` counting the whole
/// record): the `path` and `size` they set; other keys are ignored.
fn pax_records(mut buf: &[u8]) -> Result<(Option<Vec<u8>>, Option<u64>), TarError> {
    let (mut path, mut size) = (None, None);
    // Bounded: every record consumes at least its length digits.
    while !buf.is_empty() {
        let sp = buf.iter().position(|&b| b == b' ').ok_or(TarError::Extended)?;
        let len: usize = std::str::from_utf8(&buf[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(TarError::Extended)?;
        if len <= sp + 1 || len > buf.len() || buf[len - 1] != b'\n' {
            return Err(TarError::Extended);
        }
        let record = &buf[sp + 1..len - 1];
        let eq = record.iter().position(|&b| b == b'=').ok_or(TarError::Extended)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => path = Some(value.to_vec()),
            b"size" => {
                let v = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(TarError::Extended)?;
                size = Some(v);
            }
            _ => {}
        }
        buf = &buf[len..];
    }
    Ok((path, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_octal_or_base_256() {
        assert_eq!(number(b"0000644\0"), Ok(0o644));
        assert_eq!(number(b"  17 \0\0\0"), Ok(0o17));
        assert_eq!(number(b"\0\0\0\0"), Ok(0));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[4..].copy_from_slice(&(10u64 << 30).to_be_bytes());
        assert_eq!(number(&big), Ok(10 << 30));
        assert_eq!(number(b"0000809\0"), Err(TarError::Number));
        assert_eq!(number(b"12 3\0"), Err(TarError::Number));
        assert_eq!(number(&[0xff; 12]), Err(TarError::Number));
    }

    #[test]
    fn pax_records_set_path_and_size() {
        let rec = |k: &str, v: &str| {
            let body = format!(" {k}={v}\n");
            let mut n = body.len() + 1;
            if (n + body.len()).to_string().len() + body.len() != n {
                n = body.len() + (body.len() + 2).to_string().len();
            }
            format!("{n}{body}")
        };
        let buf = format!("{}{}{}", rec("mtime", "1.5"), rec("path", "a/b c"), rec("size", "42"));
        assert_eq!(
            pax_records(buf.as_bytes()),
            Ok((Some(b"a/b c".to_vec()), Some(42)))
        );
        assert_eq!(pax_records(b"99 path=x\n"), Err(TarError::Extended));
        assert_eq!(pax_records(b"5 a\n"), Err(TarError::Extended));
    }
}
