//! The deployment files in the repository (`Dockerfile`, `deploy/kubernetes/bulwark.yaml`,
//! `deploy/systemd/bulwark.service`) parse, and name what the code really has: the binary and
//! its subcommand and flags, the port the configuration listens on, the health routes (a real
//! sidecar started with the manifest's configuration answers them without a token), the signal
//! that reloads. `systemd-analyze verify` checks the unit where it is installed.

#![cfg(unix)]

mod common;
use common::{bulwark_on, free_port, run_with_stdin, serve_on, text};

#[path = "../../bulwark-store/tests/support/postgres.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `bulwark ARGS --help` succeeds: the subcommand and its flags exist.
fn assert_args_exist(args: &[String]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    let o = cmd
        .args(args)
        .arg("--help")
        .output()
        .expect("bulwark --help");
    assert!(o.status.success(), "bulwark {args:?}: {}", text(&o));
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                let (op, rest) = cur.split_once(' ').unwrap_or((&cur, ""));
                out.push((op.to_ascii_uppercase(), rest.trim().to_string()));
                cur.clear();
            }
        }
    }
    assert!(cur.is_empty(), "the Dockerfile ends inside a continuation");
    out
}

/// A JSON-form (exec-form) instruction's arguments.
fn exec_form(rest: &str) -> Vec<String> {
    serde_json::from_str(rest).unwrap_or_else(|e| panic!("{rest}: not exec form ({e})"))
}

#[test]
fn the_dockerfile_builds_the_binary_in_one_stage_and_runs_it_unprivileged_in_another() {
    let ins = instructions(&read("Dockerfile"));
    let known = [
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "USER",
        "ENV",
        "VOLUME",
        "EXPOSE",
        "ENTRYPOINT",
        "CMD",
    ];
    for (op, _) in &ins {
        assert!(known.contains(&op.as_str()), "unexpected instruction {op}");
    }
    let froms: Vec<usize> = (0..ins.len()).filter(|&i| ins[i].0 == "FROM").collect();
    assert_eq!(froms.len(), 2, "multi-stage: a build stage and a run stage");
    let (build, run) = (&ins[froms[0]..froms[1]], &ins[froms[1]..]);
    let stage = ins[froms[0]].1.split_whitespace().collect::<Vec<_>>();
    assert!(
        stage.len() == 3 && stage[1].eq_ignore_ascii_case("AS"),
        "{stage:?}"
    );
    assert!(
        build
            .iter()
            .any(|(op, r)| op == "RUN"
                && r.contains("cargo build --release --locked -p bulwark-cli")),
        "the build stage builds the locked release binary"
    );
    let bin = run
        .iter()
        .find_map(|(op, r)| {
            let from = format!("--from={} ", stage[2]);
            (op == "COPY" && r.starts_with(&from)).then(|| r[from.len()..].to_string())
        })
        .expect("the run stage copies from the build stage");
    let (src, dst) = bin.split_once(' ').expect("COPY SRC DST");
    assert!(src.ends_with("/target/release/bulwark"), "{src}");
    // Slim base, not root, the configured port, the binary as entry point with a real command.
    assert!(ins[froms[1]].1.contains("slim"), "{}", ins[froms[1]].1);
    let user = run
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, r)| r.clone())
        .expect("USER");
    let uid = user.split(':').next().unwrap_or("");
    assert!(!matches!(uid, "" | "0" | "root"), "runs as {user}");
    let entry = run
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .map(|(_, r)| exec_form(r))
        .expect("ENTRYPOINT");
    assert_eq!(entry, vec![dst.to_string()]);
    let cmd = run
        .iter()
        .find(|(op, _)| op == "CMD")
        .map(|(_, r)| exec_form(r))
        .expect("CMD");
    assert_eq!(cmd[0], "serve");
    assert_args_exist(&cmd);
    let expose: u16 = run
        .iter()
        .find(|(op, _)| op == "EXPOSE")
        .and_then(|(_, r)| r.parse().ok())
        .expect("EXPOSE PORT");
    let default_port = bulwark_core::config::SecurityConfig::default()
        .server
        .listen
        .port();
    assert_eq!(expose, default_port);
    let env = run
        .iter()
        .find(|(op, _)| op == "ENV")
        .map(|(_, r)| r.clone())
        .expect("ENV");
    let volume = run
        .iter()
        .find(|(op, _)| op == "VOLUME")
        .map(|(_, r)| exec_form(r))
        .expect("VOLUME");
    assert!(
        env.contains(&format!("BULWARK_HOME={}", volume[0])),
        "the home is the volume: {env}"
    );
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target"), "{ignore}");
}

fn get<'a>(y: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(y, |y, k| &y[*k])
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

#[test]
fn the_kubernetes_manifest_runs_serve_with_probes_a_real_sidecar_answers() {
    let docs = YamlLoader::load_from_str(&read("deploy/kubernetes/bulwark.yaml")).expect("YAML");
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"].as_str() == Some(k))
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let (cm, dep, svc) = (kind("ConfigMap"), kind("Deployment"), kind("Service"));
    let toml = s(&cm["data"]["bulwark.toml"]).to_string();
    let cfg = bulwark_core::config::SecurityConfig::from_toml(&toml, "configmap")
        .unwrap_or_else(|e| panic!("the ConfigMap's bulwark.toml: {e}"));
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join("cm.toml");
    std::fs::write(&file, &toml).expect("write");

    let pod = get(dep, &["spec", "template", "spec"]);
    let c = &pod["containers"][0];
    // Three replicas: what they must agree on is in PostgreSQL and Redis.
    assert_eq!(get(dep, &["spec", "replicas"]).as_i64(), Some(3));
    assert_eq!(
        cfg.audit.backend,
        bulwark_core::config::AuditBackend::Postgres
    );
    // The container runs `bulwark serve --config` on the file the ConfigMap is mounted as.
    let args: Vec<String> = c["args"]
        .as_vec()
        .expect("args")
        .iter()
        .map(|a| s(a).to_string())
        .collect();
    assert_eq!(args[0], "serve");
    assert_args_exist(&args);
    let config_at = args[args.iter().position(|a| a == "--config").expect("--config") + 1].clone();
    let mounts = c["volumeMounts"].as_vec().expect("volumeMounts");
    let mount = |name: &str| {
        mounts
            .iter()
            .find(|m| m["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no mount {name}"))
    };
    assert_eq!(s(&mount("config")["mountPath"]), config_at);
    assert_eq!(s(&mount("config")["subPath"]), "bulwark.toml");
    // The TLS files the configuration names are in the mounted Secret.
    let tls_dir = s(&mount("tls")["mountPath"]);
    assert!(cfg.server.tls_cert.starts_with(tls_dir) && cfg.server.tls_key.starts_with(tls_dir));
    // BULWARK_HOME is the pod's own volume; the Redis and PostgreSQL URLs the configuration reads
    // from the environment come from Secrets.
    let env = c["env"].as_vec().expect("env");
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no env {name}"))
    };
    assert_eq!(
        s(&var("BULWARK_HOME")["value"]),
        s(&mount("home")["mountPath"])
    );
    let volumes = pod["volumes"].as_vec().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    assert!(
        !volume("home")["emptyDir"].is_badvalue(),
        "the home is an emptyDir"
    );
    for (key, name) in [("redis = \"env:", "Redis"), ("url = \"env:", "PostgreSQL")] {
        let var_name = toml
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{name}: {key}NAME\""));
        assert!(
            var(var_name)["valueFrom"]["secretKeyRef"]["name"]
                .as_str()
                .is_some(),
            "{var_name} from a Secret"
        );
    }
    // The init container copies the audit keys the loader reads into the home, 0600.
    let init = &pod["initContainers"][0];
    let keys_mount = init["volumeMounts"]
        .as_vec()
        .expect("init mounts")
        .iter()
        .find(|m| m["name"].as_str() == Some("audit-keys"))
        .expect("the keys' Secret mounted");
    assert!(
        volume("audit-keys")["secret"]["secretName"]
            .as_str()
            .is_some(),
        "the keys come from a Secret"
    );
    let script = s(&init["command"][2]).to_string();
    let secret_dir = s(&keys_mount["mountPath"]).to_string();
    let home_dir = s(&mount("home")["mountPath"]).to_string();
    let files = bulwark_store::keys::KeyFiles::new(std::path::Path::new(&home_dir).join("keys"));
    for f in [files.hmac_path(), files.signing_path(), files.public_path()] {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            script.contains(&format!("{secret_dir}/{name}")),
            "{name} copied: {script}"
        );
    }
    // Run the script on the machine, with its two directories moved into a temporary one: the
    // keys it leaves are accepted by the loader (owner-only), and sign and verify.
    let made = tempfile::tempdir().expect("keys");
    bulwark_store::keys::KeyFiles::new(made.path().join("keys"))
        .load_or_create()
        .expect("keys made");
    let secret = made.path().join("secret");
    std::fs::create_dir(&secret).expect("secret dir");
    for entry in std::fs::read_dir(made.path().join("keys")).expect("keys") {
        let entry = entry.expect("entry");
        let to = secret.join(entry.file_name());
        std::fs::copy(entry.path(), &to).expect("copy");
        // As Kubernetes mounts a Secret with defaultMode 0440.
        std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o440))
            .expect("chmod");
    }
    let pod_home = made.path().join("home");
    let local_script = script
        .replace(&secret_dir, &secret.display().to_string())
        .replace(&home_dir, &pod_home.display().to_string());
    let ran = Command::new("sh")
        .args(["-c", &local_script])
        .status()
        .expect("sh");
    assert!(ran.success(), "{local_script}");
    let copied = bulwark_store::keys::KeyFiles::new(pod_home.join("keys"));
    assert!(copied.load_hmac().expect("owner-only keys").is_some());
    copied.load_or_create().expect("the copied keys load");
    // Non-root, read-only root filesystem, no privilege escalation.
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(
        c["securityContext"]["allowPrivilegeEscalation"].as_bool(),
        Some(false)
    );
    // The port is the one the configuration listens on; the Service and the probes use it.
    let port = &c["ports"][0];
    assert_eq!(
        port["containerPort"].as_i64(),
        Some(i64::from(cfg.server.listen.port()))
    );
    let port_name = s(&port["name"]);
    assert_eq!(s(&svc["spec"]["ports"][0]["targetPort"]), port_name);
    let selector = &svc["spec"]["selector"];
    assert_eq!(
        selector,
        &get(dep, &["spec", "template", "metadata", "labels"]).clone()
    );
    let mut probes = Vec::new();
    for probe in ["readinessProbe", "livenessProbe"] {
        let h = &c[probe]["httpGet"];
        assert_eq!(s(&h["port"]), port_name, "{probe}");
        // TLS is configured, so the probes speak HTTPS.
        assert_eq!(s(&h["scheme"]), "HTTPS", "{probe}");
        probes.push(s(&h["path"]).to_string());
    }
    assert_eq!(probes, ["/readyz", "/healthz"]);

    // `config check` accepts the ConfigMap's file as it is.
    let check = run_with_stdin(
        bulwark_on(home.path())
            .env("BULWARK_REDIS_URL", "redis://127.0.0.1:6379/0")
            .env(
                "BULWARK_DATABASE_URL",
                "postgres://bulwark@127.0.0.1/bulwark",
            )
            .args(["config", "check", "--config"])
            .arg(&file),
        b"",
    );
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));

    // The probes' routes answer 200 without a token on a real sidecar (loopback, no TLS and no
    // Redis here, its own PostgreSQL); an API route does not.
    let Some(pg) = pg::postgres() else { return };
    let db = pg.database("deploy");
    let api = free_port();
    let local: String = toml
        .lines()
        .filter(|l| !l.starts_with("tls_") && !l.starts_with("redis"))
        .map(|l| {
            if l.starts_with("listen") {
                format!("listen = \"127.0.0.1:{api}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(home.path().join("bulwark.toml"), local).expect("write");
    let _serve = serve_on(home.path(), api, &[("BULWARK_DATABASE_URL", db.as_str())]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for path in &probes {
        let r = agent
            .get(&format!("http://127.0.0.1:{api}{path}"))
            .call()
            .expect("probe");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let r = agent
        .get(&format!("http://127.0.0.1:{api}/v1/audit"))
        .call()
        .expect("api");
    assert_eq!(r.status().as_u16(), 401);
}

/// The unit's sections and their `Key=Value` lines (a key may repeat).
fn unit(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            out.push((name.to_string(), Vec::new()));
            continue;
        }
        let (k, v) = t
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not Key=Value: {t}", n + 1));
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()),
            "line {}: key {k:?}",
            n + 1
        );
        out.last_mut()
            .unwrap_or_else(|| panic!("line {}: outside a section", n + 1))
            .1
            .push((k.to_string(), v.to_string()));
    }
    out
}

#[test]
fn the_systemd_unit_runs_serve_hardened_and_reloads_with_sighup() {
    let file = read("deploy/systemd/bulwark.service");
    let sections = unit(&file);
    let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Unit", "Service", "Install"]);
    let service = &sections[1].1;
    let one = |k: &str| -> &str {
        let v: Vec<&str> = service
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0]
    };
    let exec: Vec<String> = one("ExecStart")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        exec[0], "/usr/local/bin/bulwark",
        "where the Dockerfile puts it too"
    );
    assert_args_exist(&exec[1..]);
    assert_eq!(exec[1], "serve");
    // Reload is SIGHUP, which `bulwark serve` answers by re-reading its configuration.
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(one("KillSignal"), "SIGTERM");
    // The home is the state directory, private; the rest of the system is read-only to it.
    let home = service
        .iter()
        .find_map(|(k, v)| {
            (k == "Environment")
                .then(|| v.strip_prefix("BULWARK_HOME="))
                .flatten()
        })
        .expect("Environment=BULWARK_HOME=");
    assert_eq!(home, format!("/var/lib/{}", one("StateDirectory")));
    for (k, v) in [
        ("User", "bulwark"),
        ("StateDirectoryMode", "0700"),
        ("UMask", "0077"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictNamespaces", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    // systemd's own check, where it is installed: every key known, the unit loadable.
    let verify = Command::new("systemd-analyze").arg("--version").output();
    if !verify.is_ok_and(|o| o.status.success()) {
        eprintln!("notice: systemd-analyze is not installed; the unit was checked by parsing only");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("bulwark.service");
    std::fs::write(
        &copy,
        file.replace("/usr/local/bin/bulwark", env!("CARGO_BIN_EXE_bulwark")),
    )
    .expect("write");
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze");
    let err = String::from_utf8_lossy(&o.stderr);
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("bulwark.service"))
        .collect();
    assert!(o.status.success() && ours.is_empty(), "{}", text(&o));
}
