//! The boot-id test hook (`CAIRN_BOOT_ID_FILE`): an index left open by a
//! `kill -9` is trusted while the boot id stays the same (a process crash:
//! the page cache survived) and rebuilt from the drives once it changes (a
//! power loss). The power-loss simulator's harness relies on the second.
//! An index in use when the power went may be torn: it is deleted before
//! LMDB reads it (a torn one crashed the node at start-up).

mod binary;

use std::path::Path;
use std::sync::Mutex;

use binary::*;
use cairn::engine::index::BOOT_ID_FILE_ENV;

const REBUILT: &str = "not closed cleanly and the machine rebooted since";
const DELETED: &str = "deleted unread, it may be torn";

/// The tests set the process's environment: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A server whose boot id is read from `boot` (written first).
fn server(boot: &Path) -> Server {
    std::fs::write(boot, "boot-one\n").expect("write boot id");
    std::env::set_var(BOOT_ID_FILE_ENV, boot);
    Server::start()
}

fn put(s: &Server, rt: &tokio::runtime::Runtime, body: &[u8]) {
    rt.block_on(async {
        let c = s.client();
        c.create_bucket()
            .bucket("boot")
            .send()
            .await
            .expect("bucket");
        c.put_object()
            .bucket("boot")
            .key("k")
            .body(body.to_vec().into())
            .send()
            .await
            .expect("put");
    });
}

#[test]
fn an_unclean_index_is_trusted_on_the_same_boot_and_rebuilt_after_the_boot_id_changes() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let boot = tempfile::NamedTempFile::new().expect("boot id file");
    let mut s = server(boot.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let body = data(200_000, 7);
    put(&s, &rt, &body);
    s.kill9_restart();
    assert!(
        !s.log().contains(REBUILT) && !s.log().contains(DELETED),
        "rebuilt on the same boot:\n{}",
        s.log()
    );
    std::fs::write(boot.path(), "boot-two\n").expect("write boot id");
    s.kill9_restart();
    assert!(
        s.log().contains(DELETED),
        "not rebuilt after the boot id changed:\n{}",
        s.log()
    );
    rt.block_on(async {
        assert_eq!(get_bytes(&s.client(), "boot", "k").await, body);
    });
}

/// Every partition's environment overwritten with garbage after a kill -9,
/// then a new boot: start-up deletes them unread and rebuilds.
#[test]
fn an_index_torn_by_a_power_loss_is_deleted_unread_and_rebuilt() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let boot = tempfile::NamedTempFile::new().expect("boot id file");
    let mut s = server(boot.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let body = data(300_000, 9);
    put(&s, &rt, &body);
    s.kill9_restart_after(|dir| {
        let index = dir.join("drive0/.cairn/index");
        let mut torn = 0;
        for p in std::fs::read_dir(&index).expect("index dir") {
            let mdb = p.expect("entry").path().join("data.mdb");
            if mdb.exists() {
                let len = std::fs::metadata(&mdb).expect("stat").len() as usize;
                std::fs::write(&mdb, vec![0xa5; len]).expect("tear");
                torn += 1;
            }
        }
        assert!(torn > 0, "no environment under {}", index.display());
        std::fs::write(boot.path(), "boot-two\n").expect("write boot id");
    });
    assert!(s.log().contains(DELETED), "{}", s.log());
    rt.block_on(async {
        assert_eq!(get_bytes(&s.client(), "boot", "k").await, body);
    });
}
