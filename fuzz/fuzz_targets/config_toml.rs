//! Configuration files and their checks: any text is loaded or refused with a located error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(cfg) = bulwark_core::SecurityConfig::from_toml(s, "fuzz.toml") {
            // What loads compiles into an action policy or says why not.
            let _ = bulwark_core::action::ActionPolicy::from_config(
                &cfg.action,
                &bulwark_core::action::ActionEnv {
                    workspace_root: "/srv/agent".into(),
                    home: None,
                },
            );
        }
    }
});
