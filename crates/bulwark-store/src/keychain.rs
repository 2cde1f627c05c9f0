//! The OS keychain (the freedesktop Secret Service, through `keyring-core` and a pure-Rust D-Bus
//! store) as a home for the vault's key-encryption key. Headless hosts (servers, CI, containers)
//! have no Secret Service: every function then fails fast with a message saying so, and callers
//! fall back to a passphrase or a key file.

use std::sync::OnceLock;

use bulwark_core::vault::KeyBytes;
use secrecy::ExposeSecret;

static STORE: OnceLock<Result<(), String>> = OnceLock::new();

/// Register the Secret Service store once; `Err` says why there is no keychain.
fn ready() -> Result<(), String> {
    STORE
        .get_or_init(|| {
            zbus_secret_service_keyring_store::Store::new()
                .map(|store| keyring_core::set_default_store(store))
                .map_err(|e| format!("no OS keychain (Secret Service) is reachable: {e}"))
        })
        .clone()
}

fn entry(service: &str, account: &str) -> Result<keyring_core::Entry, String> {
    ready()?;
    keyring_core::Entry::new(service, account)
        .map_err(|e| format!("OS keychain item {service}/{account}: {e}"))
}

/// Create a random key and keep it in the keychain under `service`/`account`.
pub fn create(service: &str, account: &str) -> Result<KeyBytes, String> {
    let e = entry(service, account)?;
    let (key, _) = KeyBytes::generate().map_err(|e| e.to_string())?;
    e.set_secret(key.0.expose_secret())
        .map_err(|err| format!("cannot store the key in the OS keychain: {err}"))?;
    Ok(key)
}

/// The key kept under `service`/`account`.
pub fn load(service: &str, account: &str) -> Result<KeyBytes, String> {
    let e = entry(service, account)?;
    let secret = zeroize::Zeroizing::new(
        e.get_secret()
            .map_err(|err| format!("cannot read the vault key from the OS keychain: {err}"))?,
    );
    let arr: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| "the OS keychain holds a vault key of the wrong size".to_string())?;
    Ok(KeyBytes(secrecy::SecretBox::new(Box::new(arr))))
}

/// Remove the item under `service`/`account` (after the vault moved to another key).
pub fn delete(service: &str, account: &str) -> Result<(), String> {
    entry(service, account)?
        .delete_credential()
        .map_err(|err| format!("cannot remove the key from the OS keychain: {err}"))
}
