//! Release checks: checksum manifests, detached signatures and public keys. Any bytes are read or
//! refused; a manifest that reads answers every lookup; never a panic.
#![no_main]
use bulwark_core::posture::signature::{DetachedSignature, Manifest, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = DetachedSignature::parse(data);
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = PublicKey::parse(s);
    if let Ok(m) = Manifest::parse(s) {
        for name in ["bulwark", "dist/bulwark-x86_64.tar.gz", "./a/../b", ""] {
            let _ = m.lookup(None, name);
            let _ = m.lookup(Some(name), "bulwark");
        }
    }
});
