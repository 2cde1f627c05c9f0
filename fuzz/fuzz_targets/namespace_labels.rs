//! Namespace label files (kubectl get namespaces -o json, or a plain map): no panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bulwark_core::action::tiers::parse_namespace_labels(data);
});
