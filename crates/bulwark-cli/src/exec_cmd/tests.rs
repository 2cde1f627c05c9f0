//! Commands as intents, quoting, and where they run.

use super::*;

fn w(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

#[test]
fn shell_quoting_round_trips_through_the_words() {
    assert_eq!(shell_join(&w(&["ls", "-la", "src/"])), "ls -la src/");
    assert_eq!(
        shell_join(&w(&["echo", "a b", "it's", "", "$HOME", "*"])),
        r#"echo 'a b' 'it'\''s' '' '$HOME' '*'"#
    );
    assert_eq!(shell_join(&w(&["A=1", "x=2"])), "'A=1' x=2");
    assert_eq!(shell_quote("~/x"), "'~/x'");
    assert_eq!(shell_quote("a;b"), "'a;b'");
}

#[test]
fn an_intent_describes_only_its_own_command() {
    let intent = |args: &str| {
        ExecutionIntent::from_json(
            format!(r#"{{"tool":"shell","action":"run","args":{args},"requested_by":"u"}}"#)
                .as_bytes(),
        )
        .expect("intent")
    };
    let cmd = Cmd::Argv(w(&["cat", "a b"]));
    assert!(describes(&intent(r#"{"command":"cat 'a b'"}"#), &cmd));
    assert!(!describes(&intent(r#"{"command":"cat a b"}"#), &cmd));
    assert!(describes(&intent(r#"{"argv":["cat","a b"]}"#), &cmd));
    assert!(!describes(&intent(r#"{"argv":["cat","a"]}"#), &cmd));
    let line = Cmd::Line("ls | wc -l".into());
    assert!(describes(&intent(r#"{"command":"ls | wc -l"}"#), &line));
    assert_eq!(
        intent_command(&intent(r#"{"command":"ls"}"#)),
        Some(Cmd::Line("ls".into()))
    );
    assert_eq!(intent_command(&intent(r#"{"path":"x"}"#)), None);
}

#[test]
fn program_names_are_basenames() {
    assert_eq!(
        Cmd::Argv(w(&["/usr/bin/kubectl", "get"])).program(),
        Some("kubectl")
    );
    assert_eq!(Cmd::Line("kubectl get".into()).program(), None);
}
