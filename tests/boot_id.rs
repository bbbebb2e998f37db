//! The boot-id test hook (`CAIRN_BOOT_ID_FILE`): an index left open by a
//! `kill -9` is trusted while the boot id stays the same (a process crash:
//! the page cache survived) and rebuilt from the drives once it changes (a
//! power loss). The power-loss simulator's harness relies on the second.

mod binary;

use binary::*;
use cairn::engine::index::BOOT_ID_FILE_ENV;

const REBUILT: &str = "not closed cleanly and the machine rebooted since";

#[test]
fn an_unclean_index_is_trusted_on_the_same_boot_and_rebuilt_after_the_boot_id_changes() {
    let boot = tempfile::NamedTempFile::new().expect("boot id file");
    std::fs::write(boot.path(), "boot-one\n").expect("write boot id");
    // The only test in this binary: no other thread reads the environment.
    std::env::set_var(BOOT_ID_FILE_ENV, boot.path());
    let mut s = Server::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let body = data(200_000, 7);
    rt.block_on(async {
        let c = s.client();
        c.create_bucket().bucket("boot").send().await.expect("bucket");
        c.put_object()
            .bucket("boot")
            .key("k")
            .body(body.clone().into())
            .send()
            .await
            .expect("put");
    });
    s.kill9_restart();
    assert!(
        !s.log().contains(REBUILT),
        "rebuilt on the same boot:\n{}",
        s.log()
    );
    std::fs::write(boot.path(), "boot-two\n").expect("write boot id");
    s.kill9_restart();
    assert!(
        s.log().contains(REBUILT),
        "not rebuilt after the boot id changed:\n{}",
        s.log()
    );
    rt.block_on(async {
        assert_eq!(get_bytes(&s.client(), "boot", "k").await, body);
    });
}
