//! Webhook verification on any headers and body, every scheme: no panic, nothing verifies by
//! accident.
#![no_main]
use bulwark_core::webhook::{Scheme, WebhookVerifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let scheme = match which % 5 {
        0 => Scheme::StandardWebhooks,
        1 => Scheme::Github,
        2 => Scheme::Slack,
        3 => Scheme::HmacSha256,
        _ => Scheme::Bearer,
    };
    let secret = secrecy::SecretString::from("fuzz-secret-0123456789".to_string());
    let Ok(v) = WebhookVerifier::new(scheme, &secret, "x-signature", "x-timestamp", 300) else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\n');
    let sig = parts.next().unwrap_or("").to_string();
    let ts = parts.next().unwrap_or("").to_string();
    let body = parts.next().unwrap_or("").as_bytes().to_vec();
    let header = |name: &str| -> Option<String> {
        if name.contains("timestamp") || name.ends_with("-timestamp") {
            Some(ts.clone())
        } else {
            Some(sig.clone())
        }
    };
    let _ = v.verify(&header, &body, 1_700_000_000);
});
