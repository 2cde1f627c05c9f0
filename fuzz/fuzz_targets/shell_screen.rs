//! The shell screen on any command line: it never panics, and what it cannot read it refuses.
#![no_main]
use bulwark_core::action::ShellScreen;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static SCREEN: OnceLock<ShellScreen> = OnceLock::new();
    let screen = SCREEN.get_or_init(ShellScreen::builtin);
    if let Ok(cmd) = std::str::from_utf8(data) {
        let r = screen.screen(cmd);
        if bulwark_core::action::shell::parse::parse(cmd).is_err() {
            assert!(r.hits.iter().any(|h| h.rule.id() == "shell-unparsable"));
        }
        // The same words as an argv never panic either.
        let argv: Vec<String> = cmd.split('\u{1f}').map(String::from).collect();
        let _ = screen.screen_argv(&argv, &Default::default());
    }
});
