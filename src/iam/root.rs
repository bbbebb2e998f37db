//! Root credentials: from `CAIRN_ROOT_USER` / `CAIRN_ROOT_PASSWORD` (or the
//! config file); otherwise generated on first start and kept on every drive
//! (`.cairn/credentials.json`, mode 0600) so later starts print the same ones.

use std::path::{Path, PathBuf};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::engine::format::META_DIR;
use crate::runtime::file::write_file_durable;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
}

fn cred_path(drive: &Path) -> PathBuf {
    drive.join(META_DIR).join("credentials.json")
}

/// Resolves the root credentials. Blocking; runs at start-up.
pub fn resolve(
    user: Option<String>,
    password: Option<String>,
    drives: &[PathBuf],
) -> Result<RootCredentials, String> {
    match (user, password) {
        (Some(u), Some(p)) => {
            if u.len() < 3 || p.len() < 8 {
                return Err("CAIRN_ROOT_USER needs at least 3 characters and CAIRN_ROOT_PASSWORD at least 8".into());
            }
            return Ok(RootCredentials {
                access_key: u,
                secret_key: p,
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err("set both CAIRN_ROOT_USER and CAIRN_ROOT_PASSWORD, or neither".into())
        }
        (None, None) => {}
    }
    for d in drives {
        if let Ok(b) = std::fs::read(cred_path(d)) {
            if let Ok(c) = serde_json::from_slice::<RootCredentials>(&b) {
                return Ok(c);
            }
        }
    }
    let mut rng = rand::thread_rng();
    let access_key: String = (&mut rng)
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(|c| (c as char).to_ascii_uppercase())
        .collect();
    let secret_key: String = (&mut rng)
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let c = RootCredentials {
        access_key,
        secret_key,
    };
    let json = serde_json::to_vec_pretty(&c).map_err(|e| e.to_string())?;
    let mut stored = 0;
    for d in drives {
        if write_file_durable(&cred_path(d), &json).is_ok() {
            stored += 1;
        }
    }
    if stored == 0 {
        return Err("could not store the generated root credentials on any drive".into());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_once_then_reused_with_mode_0600() {
        let t = tempfile::tempdir().unwrap();
        let drives: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for d in &drives {
            std::fs::create_dir_all(d.join(META_DIR)).unwrap();
        }
        let a = resolve(None, None, &drives).unwrap();
        let b = resolve(None, None, &drives).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.access_key.len(), 20);
        let mode = std::fs::metadata(cred_path(&drives[1]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn explicit_credentials_win() {
        let c = resolve(Some("admin".into()), Some("secret123".into()), &[]).unwrap();
        assert_eq!(c.access_key, "admin");
        assert!(resolve(Some("admin".into()), None, &[]).is_err());
        assert!(resolve(Some("admin".into()), Some("short".into()), &[]).is_err());
    }
}
