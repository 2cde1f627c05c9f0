//! Egress URL planning on any text: no panic.
#![no_main]
use bulwark_core::egress::EgressGuard;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static GUARD: OnceLock<EgressGuard> = OnceLock::new();
    let guard = GUARD.get_or_init(|| {
        EgressGuard::from_config(&bulwark_core::config::EgressConfig::default()).expect("guard")
    });
    if let Ok(s) = std::str::from_utf8(data)
        && let Some(p) = guard.policy(None)
    {
        let _ = p.plan(s);
        let _ = p.plan_authority(s);
    }
});
