//! Audit log lines as a verifier reads them: no panic.
#![no_main]
use bulwark_core::audit::AuditRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<AuditRecord>(data) {
        let _ = serde_json::to_vec(&r);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = bulwark_core::audit::EventType::parse(s);
    }
});
