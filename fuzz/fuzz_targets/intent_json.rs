//! Intent documents: parsed strictly, digested exactly, judged without a panic.
#![no_main]
use bulwark_core::action::{ActionEnv, ActionPolicy, ExecutionIntent, NoSymlinks};
use bulwark_core::config::{ActionConfig, ActionMode};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static POLICY: OnceLock<ActionPolicy> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        let cfg = ActionConfig {
            mode: ActionMode::Supervised,
            ..ActionConfig::default()
        };
        ActionPolicy::from_config(
            &cfg,
            &ActionEnv {
                workspace_root: "/srv/agent".into(),
                home: Some("/home/agent".into()),
            },
        )
        .expect("policy")
    });
    if let Ok(intent) = ExecutionIntent::from_json(data) {
        let d1 = intent.digest().expect("an accepted intent has a digest");
        // The canonical form parses back to the same digest.
        let again = ExecutionIntent::from_json(&serde_json::to_vec(&intent).expect("json"))
            .expect("a serialized intent parses");
        assert_eq!(again.digest().expect("digest"), d1);
        let _ = policy.evaluate(&intent, &NoSymlinks);
    }
});
