//! CPU time consumed by this process and by the server.

/// CPU milliseconds of this process (every thread).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Own {
    pub user: f64,
    pub system: f64,
}

impl std::ops::Sub for Own {
    type Output = Own;
    fn sub(self, o: Own) -> Own {
        Own {
            user: self.user - o.user,
            system: self.system - o.system,
        }
    }
}

pub fn own() -> Own {
    // SAFETY: rusage is a C struct of integers; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct it is given, a valid one.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Own::default();
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    Own {
        user: ms(ru.ru_utime),
        system: ms(ru.ru_stime),
    }
}

/// User + system CPU milliseconds of process `pid`, from /proc/<pid>/stat.
pub fn process_ms(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    parse_stat_ticks(&stat)
        .map(|t| t as f64 * 1000.0 / ticks)
        .ok_or_else(|| format!("/proc/{pid}/stat: unexpected format"))
}

/// utime + stime (fields 14 and 15) in clock ticks. The command name (field
/// 2) may contain spaces and parentheses, so fields are counted after its
/// last `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "4242 (cairn (core) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 3 0 999 0 0";
        assert_eq!(parse_stat_ticks(line), Some(1234 + 567));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn own_cpu_time_is_readable_and_grows() {
        let a = own();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed().as_millis() < 30 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(own().user > a.user, "{x}");
        assert!(process_ms(std::process::id()).is_ok());
    }
}
