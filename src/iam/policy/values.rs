//! Typed condition values: numbers, dates, CIDR blocks, booleans, parsed
//! once when a policy is compiled and again (without allocating) from a
//! request's text values.

use std::net::IpAddr;

use crate::auth::sigv4::{civil_from_days, days_from_civil};

/// A decimal number (`10`, `-3`, `2.5`); no exponents, infinities or NaN.
pub fn parse_number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !ok(int) || !ok(frac) {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `true` or `false`, without regard to case.
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A date as AWS's date operators accept it, to Unix milliseconds: ISO 8601
/// (`2024-01-31`, `2024-01-31T12:00:00Z`, with fractional seconds or a
/// `±hh:mm` offset) or epoch seconds (`1706702400`).
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let epoch = b.strip_prefix(b"-").unwrap_or(b);
    if !epoch.is_empty() && epoch.len() <= 15 && epoch.iter().all(u8::is_ascii_digit) {
        return s.parse::<i64>().ok().map(|secs| secs * 1000);
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0, |n, c| n * 10 + i64::from(c - b'0')))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    let mut i = 10;
    if b.get(i) == Some(&b'T') {
        let (hh, mm) = (num(11..13)?, num(14..16)?);
        if b.get(13) != Some(&b':') || hh > 23 || mm > 59 {
            return None;
        }
        ms += (hh * 3600 + mm * 60) * 1000;
        i = 16;
        if b.get(i) == Some(&b':') {
            let ss = num(17..19)?;
            if ss > 59 {
                return None;
            }
            ms += ss * 1000;
            i = 19;
            if b.get(i) == Some(&b'.') {
                let start = i + 1;
                i = start;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                if i == start || i - start > 9 {
                    return None;
                }
                let frac = &b[start..i.min(start + 3)];
                let mut millis = frac.iter().fold(0, |n, c| n * 10 + i64::from(c - b'0'));
                for _ in frac.len()..3 {
                    millis *= 10;
                }
                ms += millis;
            }
        }
    }
    match &b[i..] {
        [] | [b'Z'] => Some(ms),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] | [sign @ (b'+' | b'-'), _, _, _, _] => {
            let hh = num(i + 1..i + 3)?;
            let mm_at = if b.len() - i == 6 { i + 4 } else { i + 3 };
            let mm = num(mm_at..mm_at + 2)?;
            if hh > 23 || mm > 59 {
                return None;
            }
            let offset = (hh * 3600 + mm * 60) * 1000;
            Some(if *sign == b'+' {
                ms - offset
            } else {
                ms + offset
            })
        }
        _ => None,
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An address block (`203.0.113.0/24`, `2001:db8::/32`; a bare address is
/// a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// The number of leading bits fixed; 0 is the whole address space.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in the block. An IPv4-mapped IPv6 address is its
    /// IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A small stack buffer to give typed request values their text form
/// without allocating (an IPv6 address is at most 45 bytes, a date 24).
pub struct StackStr {
    buf: [u8; 64],
    len: usize,
}

impl StackStr {
    pub fn new() -> Self {
        StackStr {
            buf: [0; 64],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Unix milliseconds as AWS writes `aws:CurrentTime`
/// (`2024-01-31T12:00:00Z`).
pub fn write_date(out: &mut StackStr, ms: i64) {
    use std::fmt::Write as _;
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    // 64 bytes always hold it; a failure would only shorten the text.
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_every_form_aws_documents() {
        let cases = [
            ("2013-06-30T00:00:00Z", Some(1_372_550_400_000)),
            ("2013-06-30", Some(1_372_550_400_000)),
            ("2013-06-30T00:00Z", Some(1_372_550_400_000)),
            ("2013-06-30T02:00:00+02:00", Some(1_372_550_400_000)),
            ("2013-06-29T22:00:00-0200", Some(1_372_550_400_000)),
            ("2013-06-30T00:00:00.5Z", Some(1_372_550_400_500)),
            ("1372550400", Some(1_372_550_400_000)),
            ("2013-02-29", None),
            ("2013-06-30T24:00:00Z", None),
            ("2013-06-30T00:00:00Q", None),
            ("June 30", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_date(s), want, "{s}");
        }
        let mut out = StackStr::new();
        write_date(&mut out, 1_372_550_400_999);
        assert_eq!(out.as_str(), "2013-06-30T00:00:00Z");
    }

    #[test]
    fn cidr_blocks_contain_exactly_their_addresses() {
        let net = Cidr::parse("54.240.143.0/24").unwrap();
        assert!(net.contains("54.240.143.188".parse().unwrap()));
        assert!(!net.contains("54.240.144.1".parse().unwrap()));
        assert!(net.contains("::ffff:54.240.143.1".parse().unwrap()));
        let v6 = Cidr::parse("2001:DB8:1234:5678::/64").unwrap();
        assert!(v6.contains("2001:db8:1234:5678::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:1234:5679::1".parse().unwrap()));
        assert!(!v6.contains("54.240.143.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.1").unwrap().prefix(), 32);
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "10.0.0.0/+8",
            "host",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-2.5"), Some(-2.5));
        for bad in ["", "1e3", "inf", "NaN", "+1", "1.", ".5", "0x10"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
