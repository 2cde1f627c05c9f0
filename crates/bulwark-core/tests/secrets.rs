//! Secrets of the services agent operators hold keys for, as they appear in the files and commands
//! an agent reads: each detector finds its secret in a realistic line, and the look-alikes an
//! operator writes every day (prompts for a password, variables, placeholders, emulator keys) pass.
//!
//! The values are generated here (a fixed-seed generator, so a failure is reproducible): no real
//! credential and no other project's test data.

use base64::Engine;
use bulwark_core::{Detectors, Scanner};

const SECRETS_ONLY: Detectors = Detectors {
    secrets: true,
    pii: false,
    injection: false,
};

/// Deterministic random strings over an alphabet (test data, not security).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn from(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n)
            .map(|_| a[(self.next() % a.len() as u64) as usize] as char)
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        self.from(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            n,
        )
    }
    fn lower(&mut self, n: usize) -> String {
        self.from("abcdefghijklmnopqrstuvwxyz0123456789", n)
    }
    fn hex(&mut self, n: usize) -> String {
        self.from("0123456789abcdef", n)
    }
    fn upper(&mut self, n: usize) -> String {
        self.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n)
    }
    fn b64_bytes(&mut self, n: usize) -> String {
        let bytes: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
    fn password(&mut self) -> String {
        format!(
            "{}#{}!{}",
            self.alnum(4),
            self.alnum(3),
            self.from("0123456789", 2)
        )
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(4),
            self.hex(4),
            self.hex(12)
        )
    }
}

fn rules_in(scanner: &Scanner, text: &str) -> Vec<String> {
    scanner
        .scan_with(text.as_bytes(), SECRETS_ONLY)
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn each_new_family_is_found_in_a_realistic_line() {
    let scanner = Scanner::with_defaults().expect("scanner");
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let storage = g.b64_bytes(64);
    let cosmos = g.b64_bytes(64);
    let docker = base64::engine::general_purpose::STANDARD
        .encode(format!("ci-bot:{}", g.password()).as_bytes());
    let cases: Vec<(&str, String)> = vec![
        (
            "azure-storage-account-key",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=prodlogs;AccountKey={storage};EndpointSuffix=core.windows.net"
            ),
        ),
        (
            "azure-storage-account-key",
            format!("export AZURE_STORAGE_KEY=\"{storage}\""),
        ),
        (
            "azure-storage-account-key",
            format!("  \"primaryKey\": \"{storage}\","),
        ),
        ("azure-cosmosdb-key", format!("COSMOS_DB_KEY={cosmos}")),
        (
            "azure-container-registry-password",
            format!(
                "docker login myreg.azurecr.io -u myreg --password {}+ACR{}",
                g.from(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/",
                    42
                ),
                g.alnum(6)
            ),
        ),
        (
            "azure-devops-pat",
            format!("token: {}AZDO{}", g.alnum(76), g.alnum(4)),
        ),
        (
            "azure-devops-pat-legacy",
            format!("AZURE_DEVOPS_EXT_PAT={}", g.lower(52)),
        ),
        (
            "azure-devops-pat-url",
            format!(
                "git clone https://{}@dev.azure.com/contoso/infra/_git/deploy",
                g.lower(52)
            ),
        ),
        (
            "azure-function-key",
            format!(
                "curl https://billing-fn.azurewebsites.net/api/HttpTrigger1?code={}==",
                g.from(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                    54
                )
            ),
        ),
        (
            "azure-function-key-header",
            format!("x-functions-key: {}==", g.alnum(54)),
        ),
        (
            "azure-apim-subscription-key",
            format!("Ocp-Apim-Subscription-Key: {}", g.hex(32)),
        ),
        (
            "azure-openai-api-key",
            format!("AZURE_OPENAI_API_KEY={}", g.hex(32)),
        ),
        (
            "azure-search-key",
            format!("AZURE_SEARCH_ADMIN_KEY={}", g.alnum(52)),
        ),
        (
            "azure-app-configuration",
            format!(
                "Endpoint=https://appcfg.azconfig.io;Id=x1y2-l0-s0:{};Secret={}",
                g.alnum(12),
                g.b64_bytes(32)
            ),
        ),
        (
            "azure-cache-redis-key",
            format!(
                "cache1.redis.cache.windows.net:6380,password={},ssl=True,abortConnect=False",
                g.b64_bytes(32)
            ),
        ),
        (
            "azure-entra-refresh-token",
            format!(
                "refresh_token=1.A{}.Ag{}",
                g.from(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                    60
                ),
                g.from(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
                    280
                )
            ),
        ),
        (
            "docker-config-auth",
            format!(
                "{{\n  \"auths\": {{\n    \"registry.corp.io\": {{\n      \"auth\": \"{docker}\"\n    }}\n  }}\n}}"
            ),
        ),
        (
            "hashicorp-vault-service-token",
            format!("VAULT_TOKEN=hvs.{}", g.alnum(24)),
        ),
        (
            "octopus-deploy-api-key-long",
            format!("X-Octopus-ApiKey: API-{}", g.upper(30)),
        ),
        (
            "microsoft-teams-workflow-webhook",
            format!(
                "https://prod1.12.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/{}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={}",
                g.hex(32),
                g.alnum(43)
            ),
        ),
        (
            "slack-webhook-url",
            format!(
                "https://hooks.slack.com/services/T{}/B{}/{}",
                g.upper(10),
                g.upper(10),
                g.alnum(24)
            ),
        ),
        (
            "langfuse-secret-key",
            format!("LANGFUSE_SECRET_KEY=sk-lf-{}", g.uuid()),
        ),
        (
            "braintrust-api-key",
            format!("BRAINTRUST_API_KEY=sk-{}", g.alnum(48)),
        ),
        (
            "buildkite-api-token",
            format!("BUILDKITE_API_TOKEN=bkua_{}", g.lower(40)),
        ),
        (
            "bitbucket-app-password",
            format!("BITBUCKET_APP_PASSWORD=ATBB{}", g.alnum(32)),
        ),
        ("twilio-api-key", format!("TWILIO_API_KEY=SK{}", g.hex(32))),
        (
            "twilio-auth-token",
            format!("TWILIO_AUTH_TOKEN={}", g.hex(32)),
        ),
        (
            "jdbc-password",
            format!(
                "spring.datasource.url=jdbc:mysql://db.internal:3306/app?user=app&password={}",
                g.password()
            ),
        ),
        (
            "jdbc-password",
            format!(
                "jdbc:sqlserver://db1:1433;databaseName=app;user=sa;password={}",
                g.password()
            ),
        ),
        (
            "jdbc-oracle-password",
            format!("url=jdbc:oracle:thin:scott/{}@db1:1521:orcl", g.password()),
        ),
        (
            "connection-string-password",
            format!(
                "Server=tcp:sql1.database.windows.net,1433;Initial Catalog=app;User ID=admin;Password={};",
                g.password()
            ),
        ),
        (
            "connection-string-password",
            format!(
                "psql \"host=db.internal port=5432 user=app password={} dbname=app\"",
                g.password()
            ),
        ),
        (
            "ldap-config-password",
            format!(
                "ldap_default_bind_dn = cn=sssd,dc=corp\nldap_default_authtok = {}",
                g.password()
            ),
        ),
        (
            "cli-password",
            format!("mysql -h db -u root -p{} app < dump.sql", g.password()),
        ),
        (
            "cli-password",
            format!("mysqldump --password={} --all-databases", g.password()),
        ),
        (
            "cli-password",
            format!("sshpass -p '{}' ssh ops@bastion", g.password()),
        ),
        (
            "cli-password",
            format!(
                "ldapsearch -x -D \"cn=admin,dc=corp\" -w {} -b dc=corp",
                g.password()
            ),
        ),
        (
            "cli-password",
            format!("redis-cli -h cache -a {} ping", g.password()),
        ),
        (
            "cli-password",
            format!("sqlcmd -S db1 -U sa -P {} -Q \"SELECT 1\"", g.password()),
        ),
        (
            "url-credentials",
            format!("REDIS_URL=redis://:{}@cache:6379/0", g.password()),
        ),
    ];
    let mut missed = Vec::new();
    for (rule, text) in &cases {
        let found = rules_in(&scanner, text);
        if !found.iter().any(|r| r == rule) {
            missed.push(format!("{rule}: {found:?} in {text}"));
        }
    }
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
}

#[test]
fn look_alikes_of_the_new_families_pass() {
    let scanner = Scanner::with_defaults().expect("scanner");
    let benign = [
        // The password is prompted for, read from a variable, or is the port.
        "mysql -h db -u root -p app",
        "mysql -h db -P 3306 -u reader app",
        "sshpass -p \"$SSHPASS\" ssh ops@bastion",
        "redis-cli -a \"$REDIS_PASSWORD\" ping",
        "ldapsearch -x -D \"cn=admin,dc=corp\" -W -b dc=corp",
        "jdbc:mysql://db.internal:3306/app?user=app&password=${DB_PASSWORD}",
        "Server=tcp:sql1;Initial Catalog=app;User ID=admin;Password=<your-password>;",
        "Server=localhost;Database=app;Trusted_Connection=True;",
        // Emulator keys everyone shares (Azurite, Cosmos DB emulator).
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        "COSMOS_KEY=C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==",
        // A registry auth that is not user:password.
        "{\"auths\": {\"registry.corp.io\": {\"auth\": \"dGVzdA==\"}}}",
        "{\"auths\": {\"registry.corp.io\": {\"auth\": \"\"}}}",
        // Prose and identifiers near the new anchors.
        "The DevOps team reviewed the Azure pipeline; see ADR-12 for the API design.",
        "SKU-2291 ships Monday; SKU list attached.",
        "Release 1.A and 0.A of the schema are deprecated.",
    ];
    for text in benign {
        let found = rules_in(&scanner, text);
        assert!(found.is_empty(), "{text:?}: {found:?}");
    }
}

/// A GitHub token with a valid checksum, from the generator.
fn github_token(g: &mut Gen) -> String {
    bulwark_core::scan::github_token_with_checksum("ghp_", &g.alnum(30))
}

#[test]
fn encoded_escaped_and_split_secrets_are_found_where_they_are_written() {
    let scanner = Scanner::with_defaults().expect("scanner");
    let mut g = Gen(0x2545_f491_4f6c_dd1d);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let gh = github_token(&mut g);
    let aws_secret = g.from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+",
        40,
    );
    let (half1, half2) = gh.split_at(20);
    let escaped: String = gh.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    let url_encoded: String = format!(
        "aws_secret_access_key={}",
        aws_secret.replace('/', "%2F").replace('+', "%2B")
    );
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "github-pat",
            "base64-encoded",
            format!(
                "data:\n  config: {}\n",
                b64(&format!("GITHUB_TOKEN={gh}\n"))
            ),
        ),
        (
            "aws-secret-access-key",
            "URL-encoded",
            format!("POST /login?{url_encoded}&region=eu-west-1"),
        ),
        (
            "github-pat",
            "written with escapes",
            format!("{{\"token\": \"{escaped}\"}}"),
        ),
        (
            "github-pat",
            "split by invisible characters",
            format!("token: {half1}\u{200B}{half2}"),
        ),
        (
            "github-pat",
            "split by a line break",
            format!("GITHUB_TOKEN={half1}\n{half2}\nnext: line"),
        ),
    ];
    for (rule, how, text) in &cases {
        let findings = scanner.scan_with(text.as_bytes(), SECRETS_ONLY);
        let f = findings
            .iter()
            .find(|f| &f.rule == rule && f.message.contains(how))
            .unwrap_or_else(|| panic!("{rule} ({how}) not found in {text:?}: {findings:#?}"));
        // The span covers the whole disguised value, so redaction leaves none of it.
        let span = f.sort_span();
        let redacted = format!("{}[REDACTED]{}", &text[..span.start], &text[span.end..]);
        for part in [half1, half2, &aws_secret[..20]] {
            assert!(
                !redacted.contains(part),
                "{how}: {part} left in {redacted:?}"
            );
        }
    }
}

#[test]
fn ordinary_encoded_and_wrapped_text_passes() {
    let scanner = Scanner::with_defaults().expect("scanner");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let mut g = Gen(7);
    // A certificate (public), wrapped at 64 columns.
    let cert_body = g.b64_bytes(600);
    let wrapped: Vec<&str> = cert_body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let cert = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        wrapped.join("\n")
    );
    let benign = [
        format!(
            "payload: {}",
            b64("{\"event\": \"deploy\", \"service\": \"billing\", \"ok\": true}")
        ),
        "https://example.org/search?q=caf%C3%A9%20near%20me&lang=fr".to_string(),
        "{\"title\": \"Caf\\u00e9 r\\u00e9sum\\u00e9\", \"path\": \"a\\/b\\/c\"}".to_string(),
        cert,
        "build 2f9c1e7a3b5d88e1c0a4\nff31b2d9 finished in 3s\n".to_string(),
    ];
    for text in &benign {
        let found = rules_in(&scanner, text);
        assert!(found.is_empty(), "{text:?}: {found:?}");
    }
}

/// Cases a red-team pass found: variables and placeholders in commands and connection strings,
/// Windows `%VAR%` read as percent-encoding, quoted passwords with a space, other invisible
/// separators, a line break with a short tail, and a first line the rules find alone.
#[test]
fn red_team_cases_of_the_new_detectors() {
    let scanner = Scanner::with_defaults().expect("scanner");
    let benign = [
        "sqlcmd -S db -U sa -P $env:SA_PASSWORD",
        "redis-cli -a $env:REDIS_PW ping",
        "Server=db;User Id=sa;Password=@Password;",
        "Server=db;User Id=sa;Password=myPassword;",
        "Server=db;User Id=sa;Password=YourStrong@Passw0rd;",
        "jdbc:sqlserver://h;user=sa;password=%DB_PASS%",
        "set DB_PASSWORD=%DB_PASSWORD%",
        "token=%BEARER_TOKEN%",
        "mkdir -p /tmp/x && cp -p a b",
        "docker login -u bot -p $TOKEN registry.io",
    ];
    for text in benign {
        let found = rules_in(&scanner, text);
        assert!(found.is_empty(), "{text:?}: {found:?}");
    }
    let mut g = Gen(99);
    let aws = format!("AKIA{}", g.from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
    let stripe = format!("sk_live_{}", g.alnum(24));
    let pw = g.password();
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("mysql -uroot -p'{pw} Pass' app"),
            vec![pw.clone(), "Pass".into()],
        ),
        (
            format!("docker login -u bot -p {pw} registry.io"),
            vec![pw.clone()],
        ),
        (format!("mongo -u admin -p {pw}"), vec![pw.clone()]),
        (
            aws.chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join("\u{200E}"),
            vec![aws[..4].to_string(), aws[16..].to_string()],
        ),
        (
            format!("{}\n{}", &aws[..17], &aws[17..]),
            vec![aws[..17].to_string(), aws[17..].to_string()],
        ),
        (
            format!("{}\n{}", &stripe[..26], &stripe[26..]),
            vec![stripe[..26].to_string(), stripe[26..].to_string()],
        ),
    ];
    for (text, parts) in &cases {
        let redactor = bulwark_core::scan::Redactor::new(
            scanner.clone(),
            &bulwark_core::scan::RedactConfig::default(),
            &|_| None,
        )
        .expect("redactor");
        let out = redactor.redact(text).text;
        for part in parts {
            assert!(
                !out.contains(part.as_str()),
                "{part:?} left in {out:?} (from {text:?})"
            );
        }
    }
}
