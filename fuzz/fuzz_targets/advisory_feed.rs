//! Advisory feeds and installed-package lines: no panic on any JSON or text.
#![no_main]
use bulwark_core::posture::advisory::{Installed, select};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(feed) = serde_json::from_slice::<serde_json::Value>(data) {
        let installed = [Installed::parse("picoclaw=1.2.3").expect("installed")];
        let _ = select(&feed, "picoclaw", &installed);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Installed::parse(s);
        let _ = bulwark_core::posture::advisory::parse_version(s);
    }
});
