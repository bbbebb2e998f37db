//! Object lock rules, enforced by the owner core wherever a version could be
//! removed or its retention changed (so every path, S3 or not, obeys them).
//! Pure: the caller passes the clock.

use super::meta::{LockMode, Locked, Retention};

/// Why a locked version refuses a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockDenial {
    /// Under retention until `until_ms`; GOVERNANCE yields to a bypass.
    Retained(Retention),
    /// A legal hold is on: nothing but removing it lets the version go.
    LegalHold,
}

/// The retention still in force at `now_ms`, if any.
pub fn active(r: Option<Retention>, now_ms: u64) -> Option<Retention> {
    r.filter(|r| r.until_ms > now_ms)
}

/// May this version be deleted for good (or replaced in place)?
pub fn may_remove(v: &impl Locked, now_ms: u64, bypass_governance: bool) -> Result<(), LockDenial> {
    if v.legal_hold() {
        return Err(LockDenial::LegalHold);
    }
    match active(v.retention(), now_ms) {
        Some(r) if r.mode == LockMode::Compliance => Err(LockDenial::Retained(r)),
        Some(r) if !bypass_governance => Err(LockDenial::Retained(r)),
        _ => Ok(()),
    }
}

/// May a version's retention go from `current` to `next`? Keeping the mode
/// and not shortening is always allowed; COMPLIANCE allows nothing else
/// while in force; GOVERNANCE allows anything with a bypass.
pub fn may_change_retention(
    current: Option<Retention>,
    next: Option<Retention>,
    now_ms: u64,
    bypass_governance: bool,
) -> Result<(), LockDenial> {
    let Some(cur) = active(current, now_ms) else {
        return Ok(());
    };
    let keeps = next.is_some_and(|n| n.mode == cur.mode && n.until_ms >= cur.until_ms);
    if keeps || (cur.mode == LockMode::Governance && bypass_governance) {
        Ok(())
    } else {
        Err(LockDenial::Retained(cur))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::meta::{Attr, UploadMeta};

    fn upload(attrs: Vec<Attr>) -> UploadMeta {
        UploadMeta {
            upload: 1,
            created_ms: 0,
            content_type: None,
            headers: vec![],
            user_meta: vec![],
            layout: (2, 1),
            rotation: 0,
            tags: vec![],
            checksum: None,
            attrs,
        }
    }

    const GOV: Retention = Retention {
        mode: LockMode::Governance,
        until_ms: 100,
    };
    const COMP: Retention = Retention {
        mode: LockMode::Compliance,
        until_ms: 100,
    };

    #[test]
    fn compliance_refuses_removal_until_its_date_even_with_a_bypass() {
        let v = upload(vec![Attr::Retention(COMP)]);
        assert_eq!(may_remove(&v, 99, true), Err(LockDenial::Retained(COMP)));
        assert_eq!(may_remove(&v, 100, false), Ok(()));
    }

    #[test]
    fn governance_yields_only_to_a_bypass() {
        let v = upload(vec![Attr::Retention(GOV)]);
        assert_eq!(may_remove(&v, 50, false), Err(LockDenial::Retained(GOV)));
        assert_eq!(may_remove(&v, 50, true), Ok(()));
        assert_eq!(may_remove(&v, 101, false), Ok(()));
    }

    #[test]
    fn a_legal_hold_refuses_removal_whatever_the_retention_or_bypass() {
        let v = upload(vec![Attr::LegalHold]);
        assert_eq!(may_remove(&v, 0, true), Err(LockDenial::LegalHold));
        let v = upload(vec![Attr::Retention(GOV), Attr::LegalHold]);
        assert_eq!(may_remove(&v, 1_000, true), Err(LockDenial::LegalHold));
        assert_eq!(may_remove(&upload(vec![]), 0, false), Ok(()));
    }

    #[test]
    fn compliance_retention_can_be_extended_never_shortened_changed_or_removed() {
        let longer = Retention {
            until_ms: 200,
            ..COMP
        };
        let shorter = Retention {
            until_ms: 60,
            ..COMP
        };
        let as_gov = Retention {
            until_ms: 200,
            ..GOV
        };
        assert_eq!(
            may_change_retention(Some(COMP), Some(longer), 50, false),
            Ok(())
        );
        assert_eq!(
            may_change_retention(Some(COMP), Some(COMP), 50, false),
            Ok(())
        );
        for next in [Some(shorter), Some(as_gov), None] {
            assert_eq!(
                may_change_retention(Some(COMP), next, 50, true),
                Err(LockDenial::Retained(COMP)),
                "{next:?}"
            );
        }
        // Once its date has passed it is no lock at all.
        assert_eq!(may_change_retention(Some(COMP), None, 100, false), Ok(()));
    }

    #[test]
    fn governance_retention_is_extended_freely_and_otherwise_changed_with_a_bypass() {
        let longer = Retention {
            until_ms: 200,
            ..GOV
        };
        let shorter = Retention {
            until_ms: 60,
            ..GOV
        };
        assert_eq!(
            may_change_retention(Some(GOV), Some(longer), 50, false),
            Ok(())
        );
        for next in [Some(shorter), None, Some(COMP)] {
            assert_eq!(
                may_change_retention(Some(GOV), next, 50, false),
                Err(LockDenial::Retained(GOV))
            );
            assert_eq!(may_change_retention(Some(GOV), next, 50, true), Ok(()));
        }
        assert_eq!(may_change_retention(None, Some(COMP), 50, false), Ok(()));
    }
}
