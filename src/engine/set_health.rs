//! The drive set's health in one place: `ok` or `degraded: N drives`, and
//! `healing N%` while a drive is being healed. `/health/ready`, the admin
//! API (`GET info`, `GET drives`, `GET background/heal`), the CLI and the
//! console all show what this computes, so they never disagree.

use super::heal::HealProgress;
use super::Shared;

/// The set's health at one moment.
#[derive(Clone, Debug, Default)]
pub struct SetHealth {
    /// Drives not online (failed, held, missing, refused).
    pub away: usize,
    /// Every heal in progress.
    pub heals: Vec<HealProgress>,
}

impl SetHealth {
    /// The overall heal as a whole percentage: the least advanced heal, as
    /// redundancy is full again only after it. None when nothing heals.
    pub fn healing_percent(&self) -> Option<u32> {
        self.heals
            .iter()
            .map(|h| h.fraction)
            .min_by(f64::total_cmp)
            .map(percent)
    }

    /// Drive `d`'s heal, when it is being healed.
    pub fn heal_of(&self, d: usize) -> Option<&HealProgress> {
        self.heals.iter().find(|h| usize::from(h.drive) == d)
    }

    /// `ok`, `degraded: 2 drives`, `ok, healing 42%`, `degraded: 1 drive,
    /// healing 42%`.
    pub fn summary(&self) -> String {
        let base = match self.away {
            0 => "ok".to_owned(),
            1 => "degraded: 1 drive".to_owned(),
            n => format!("degraded: {n} drives"),
        };
        match self.healing_percent() {
            Some(p) => format!("{base}, healing {p}%"),
            None => base,
        }
    }
}

impl HealProgress {
    /// This heal's share done as a whole percentage.
    pub fn percent(&self) -> u32 {
        percent(self.fraction)
    }
}

/// A share as a whole percentage, never 100 before it is done.
pub fn percent(f: f64) -> u32 {
    ((f * 100.0).floor() as u32).min(if f < 1.0 { 99 } else { 100 })
}

impl Shared {
    /// The set's health now (reads each partition's heal state while a heal
    /// runs).
    pub fn set_health(&self) -> SetHealth {
        let heals = self.heal_progress().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "heal progress could not be read");
            Vec::new()
        });
        SetHealth {
            away: self.set.drives.len() - self.online_drives().len(),
            heals,
        }
    }

    /// The set's health in a few words (`SetHealth::summary`).
    pub fn health_summary(&self) -> String {
        self.set_health().summary()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heal(drive: u16, fraction: f64) -> HealProgress {
        HealProgress {
            drive,
            since_ms: 0,
            partitions_done: 0,
            partitions: 8,
            fraction,
            records: 0,
            bytes: 0,
            rate: 0.0,
            eta_seconds: None,
            online: true,
        }
    }

    #[test]
    fn summary_names_away_drives_and_the_least_advanced_heal() {
        let mut h = SetHealth::default();
        assert_eq!(h.summary(), "ok");
        h.away = 2;
        assert_eq!(h.summary(), "degraded: 2 drives");
        h.away = 1;
        assert_eq!(h.summary(), "degraded: 1 drive");
        h.away = 0;
        h.heals = vec![heal(1, 0.80), heal(3, 0.427)];
        assert_eq!(h.summary(), "ok, healing 42%");
        assert_eq!(h.heal_of(3).map(|p| p.drive), Some(3));
        assert!(h.heal_of(0).is_none());
    }

    #[test]
    fn percent_is_never_100_before_done() {
        assert_eq!(percent(0.999), 99);
        assert_eq!(percent(1.0), 100);
        assert_eq!(percent(0.0), 0);
    }
}
