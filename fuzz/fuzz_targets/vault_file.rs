//! Vault files: any bytes are refused or read, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bulwark_core::vault::VaultFile::from_json(data);
});
