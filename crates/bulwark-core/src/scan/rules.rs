//! The secret detectors, as data.
//!
//! Three shapes, grouped by how they are found cheaply:
//! - `prefix`: a token with a distinctive literal (`ghp_`, `AKIA`, `xoxb-`); the literal is the
//!   prefilter anchor and the regex confirms the whole token around it;
//! - `keyword`: a service name near an assignment (`asana_token = "..."`): the keyword is the anchor
//!   (ASCII case-insensitive) and the regex confirms the value's shape;
//! - `custom`: anything else (private-key blocks, credentials in URLs, generic assignments), with its
//!   own anchors and window.

use crate::finding::Severity::{self, Critical, High, Medium};

/// An extra test a candidate must pass after its regex matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Check {
    /// The regex's shape is the whole check (formats too specific to be anything else).
    Format,
    /// A keyword rule's value: not an obvious example, and at least this entropy.
    Keyword(f64),
    /// The value must not be an example and must have at least this Shannon entropy.
    Entropy(f64),
    /// GitHub's token checksum: CRC32 of the random part, base62, in the last six characters.
    GithubChecksum,
    /// A JWT: the header must decode from base64url to a JSON object with `alg`.
    Jwt,
    /// The generic assignment rule: placeholders, environment references and code excluded; the
    /// entropy floor comes from configuration.
    Generic,
    /// The password in a URL's userinfo: not a placeholder or a variable.
    UrlPassword,
    /// A private-key block whose body is long enough and base64.
    PrivateKeyBody,
    /// A password written in a command or a connection string: not a variable or parameter
    /// (`$PW`, `$env:PW`, `%PW%`, `@Password`), not a placeholder, some entropy.
    Password,
    /// A Docker registry `auth` value: base64 of `user:password`, both parts present and printable,
    /// the password not a placeholder.
    BasicAuthBase64,
    /// A value under `data:` in a manifest of `kind: Secret` (not `SopsSecret`, `ExternalSecret`
    /// ...): base64 of at least eight bytes, not a placeholder.
    KubernetesSecret,
}

/// How far around an anchor the confirming regex looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Window {
    /// The anchor's line (clipped to a few KiB around the anchor).
    Line,
    /// The anchor's line and the two after it, for values written as an XML element
    /// (`<apiToken>`, the value, `</apiToken>`).
    Element,
    /// Several lines: this many bytes before and after the anchor.
    Lines { before: usize, after: usize },
}

/// One detector, before compilation.
#[derive(Debug, Clone)]
pub(crate) struct RuleSpec {
    pub id: &'static str,
    pub description: &'static str,
    pub severity: Severity,
    /// Literal anchors; the rule's regex runs only near one of them.
    pub anchors: Vec<&'static str>,
    /// Whether anchors match ASCII case-insensitively.
    pub anchors_ci: bool,
    /// Service names (keyword rules only): the rule runs only on a line, woken by a
    /// [`WAKE_WORDS`] anchor, that also contains one of them.
    pub keywords: Vec<&'static str>,
    /// The confirming regex. A group named `s` marks the secret value; without it, the whole match.
    pub regex: String,
    /// A cheaper regex with the same groups, run anchored over each match of `regex` alone, where
    /// `regex`'s own groups cost most of its search (see [`generic_regex`]).
    pub groups: Option<String>,
    pub check: Check,
    pub window: Window,
}

/// The generic assignment rule's id: it yields to any specific rule that finds the same value.
pub(crate) const GENERIC_RULE: &str = "generic-secret";

/// The generic rule's regex: a name matching `name` (where the rule looks for secret words), an
/// assignment or an XML element, and a value.
///
/// Its groups are found again, over each match alone, by the same regex with a `name` of any
/// identifier characters: the keyword alternation is what makes captures expensive (a backtracker
/// tries every keyword at every position of the name), and over a match it changes nothing. The
/// match starts where the name does; of the names that start there, both regexes prefer the longest
/// one after which the rest matches, and any name that contains a keyword still does when longer, so
/// both choose the same name and then the same rest (`generic_groups_agree` tests this).
fn generic_regex(name: &str) -> String {
    format!(
        r#"(?m)(?P<name>{name})(?:{ASSIGN}(?P<s>[^\s"'`,;<>(){{}}\[\]\\]{{6,}})|>\s*(?P<x>[^\s"'`,;<>(){{}}\[\]\\]{{6,}})\s*</)"#
    )
}

/// Characters that may not touch a token on its left or right.
const L: &str = r"(?:^|[^0-9A-Za-z_.])";
const R: &str = r"(?:$|[^0-9A-Za-z_])";
const UUID: &str = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

fn prefix(
    id: &'static str,
    description: &'static str,
    severity: Severity,
    anchors: &[&'static str],
    token: &str,
) -> RuleSpec {
    RuleSpec {
        id,
        description,
        severity,
        anchors: anchors.to_vec(),
        anchors_ci: false,
        keywords: Vec::new(),
        regex: format!("(?m){L}(?P<s>{token}){R}"),
        groups: None,
        check: Check::Entropy(2.8),
        window: Window::Line,
    }
}

/// Like [`prefix`], with anchors matched case-insensitively (the token regex says its own case rules).
fn prefix_ci(
    id: &'static str,
    description: &'static str,
    severity: Severity,
    anchors: &[&'static str],
    token: &str,
) -> RuleSpec {
    RuleSpec {
        anchors_ci: true,
        ..prefix(id, description, severity, anchors, token)
    }
}

/// An assignment after a name: optional closing quote, optional type word (`var t string = ...`),
/// an operator, optional opening quote. Captures `op` (the operator) and `q` (an opening quote).
const ASSIGN: &str = r#"(?:(?P<nq>["'\]]{0,2})[ \t]*(?:(?:string|String|str|const|final|char|var)[ \t]+)?(?P<op>:::=|::=|:=|=>|\?=|\.=|\+=|\|\|=|=|:)[ \t]*(?P<q>["'`]|\b(?:new )?String\(["'])?|["'][ \t]*,[ \t]*(?P<cq>["']))"#;

/// The regex for "a name containing one of `keywords`, an assignment (or an XML element), then a
/// value of shape `value`". The keyword must start a word (`etsy` does not match `SetSysctl`) and be
/// followed by a non-lowercase character (`sumo` does not match `sumOfValues`).
pub(crate) fn keyword_regex(keywords: &[&str], value: &str) -> String {
    let kws: Vec<String> = keywords.iter().map(|k| regex_escape(k)).collect();
    format!(
        r#"(?m)(?:^|[^A-Za-z])(?i:{kws})(?:[^a-z\n][0-9A-Za-z_.\-]*)?(?:{ASSIGN}(?P<s>{value})(?:["'`\s;,)\]}}<\\&]|$)|>\s*(?P<x>{value})\s*</)"#,
        kws = kws.join("|"),
    )
}

fn keyword(
    id: &'static str,
    description: &'static str,
    severity: Severity,
    keywords: &[&'static str],
    value: &str,
) -> RuleSpec {
    RuleSpec {
        id,
        description,
        severity,
        anchors: Vec::new(),
        anchors_ci: true,
        keywords: keywords.to_vec(),
        regex: keyword_regex(keywords, value),
        groups: None,
        check: Check::Keyword(2.5),
        window: Window::Element,
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Words that wake the keyword and generic rules: a secret assigned in code or configuration nearly
/// always has one of them in its name (`asanaToken`, `TWILIO_API_KEY`, `db_password`). Matched in
/// lower case, UPPER case and Capitalised, so the prefilter stays a fast case-sensitive search.
pub(crate) const WAKE_WORDS: &[&str] = &["key", "token", "secret", "pass", "pwd", "auth", "cred"];

/// Names in an assignment that say "this value is a secret", for the generic rule.
pub(crate) const GENERIC_KEYWORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "accesskey",
    "access-key",
    "auth",
    "credential",
    "creds",
    "private_key",
    "privatekey",
    "key",
];

/// Every secret detector. Ids are stable: they appear in findings, baselines and configuration.
pub(crate) fn secret_rules() -> Vec<RuleSpec> {
    let mut r = vec![
        // ---- Cloud providers
        prefix(
            "aws-access-key-id",
            "AWS access key id",
            Critical,
            &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
            "(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
        ),
        keyword(
            "aws-secret-access-key",
            "AWS secret access key",
            Critical,
            &["aws_secret", "aws-secret", "awssecret", "secret_access_key", "secretaccesskey", "aws_secret_key"],
            "[A-Za-z0-9/+=]{40}",
        ),
        keyword(
            "aws-session-token",
            "AWS session token",
            Critical,
            &["aws_session_token", "aws-session-token", "awssessiontoken"],
            "[A-Za-z0-9/+=]{100,2000}",
        ),
        prefix(
            "aws-bedrock-api-key-long-lived",
            "Amazon Bedrock long-lived API key",
            Critical,
            &["ABSKQmVkcm9ja0FQSUtleS"],
            "ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{110,400}={0,2}",
        ),
        prefix(
            "aws-bedrock-api-key-short-lived",
            "Amazon Bedrock short-lived API key",
            Critical,
            &["bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"],
            "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%&._-]*",
        ),
        prefix(
            "gcp-api-key",
            "Google Cloud / Gemini API key",
            High,
            &["AIza"],
            "AIza[0-9A-Za-z_-]{35}",
        ),
        RuleSpec {
            check: Check::Entropy(0.0),
            ..prefix(
                "gcp-service-account",
                "Google Cloud service-account key file",
                Critical,
                &["_account\""],
                r#""type"\s*:\s*"service_account""#,
            )
        },
        prefix(
            "gcp-oauth-client-secret",
            "Google OAuth client secret",
            High,
            &["GOCSPX-"],
            "GOCSPX-[A-Za-z0-9_-]{28}",
        ),
        prefix(
            "google-oauth-access-token",
            "Google OAuth access token",
            High,
            &["ya29."],
            r"ya29\.[0-9A-Za-z_-]{30,1000}",
        ),
        RuleSpec {
            // `AccountKey=` in a connection string, or any name for an account, storage or access
            // key (`AZURE_STORAGE_KEY`, `"primaryKey":`): 64 random bytes in base64.
            check: Check::Entropy(4.0),
            regex: r"(?i:(?:access|account|storage|primary|secondary)[_.-]?key)(?-u:[^\n]){0,25}?(?P<s>[A-Za-z0-9+/]{86}==)(?:$|[^A-Za-z0-9+/=])".into(),
            window: Window::Element,
            // Behind the keyword gate: every name holds `key`, a wake word.
            anchors: Vec::new(),
            keywords: vec!["accountkey", "account_key", "account-key", "account.key", "storagekey", "storage_key", "storage-key", "storage.key", "accesskey", "access_key", "access-key", "primarykey", "primary_key", "primary-key", "secondarykey", "secondary_key", "secondary-key"],
            ..prefix_ci("azure-storage-account-key", "Azure storage account key", Critical, &[], "")
        },
        keyword("azure-cosmosdb-key", "Azure Cosmos DB account key", Critical, &["cosmos"], "[A-Za-z0-9+/]{86}=="),
        prefix("azure-container-registry-password", "Azure container registry password", High, &["ACR"], r"[a-zA-Z0-9+/]{42}\+ACR[a-zA-Z0-9]{6}"),
        prefix("azure-devops-pat", "Azure DevOps personal access token", Critical, &["AZDO"], "[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}"),
        RuleSpec {
            regex: r#"(?i:devops|azdo|ado[_-]?(?:pat|token))[\w.-]{0,30}["'\]]{0,2}[ \t]*(?::|=|=>|:=)[ \t]*["']?(?P<s>[a-z0-9]{52})(?:$|[^0-9A-Za-z])"#.into(),
            ..prefix("azure-devops-pat-legacy", "Azure DevOps personal access token (52 characters)", Critical, // Anchors outside plain prose only (a lower-case anchor would cost a pass over every text).
                &["EVOPS", "DevOps", "Devops", "AZDO", "Azdo", "ADO_"], "")
        },
        RuleSpec {
            regex: r"(?i:https?://)(?:[^\s:@/]{1,64}:)?(?P<s>[a-z0-9]{52}|[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})@(?i:dev\.azure\.com)".into(),
            ..prefix("azure-devops-pat-url", "Azure DevOps personal access token in a URL", Critical, &["@dev.azure.com"], "")
        },
        RuleSpec {
            regex: r#"(?i:\.azurewebsites\.net/api/[\w/-]{1,100}\?(?:[^\s"'#]{0,200}&)?code=)(?P<s>[A-Za-z0-9_-]{30,100}(?:==|%3[Dd]%3[Dd])?)"#.into(),
            ..prefix("azure-function-key", "Azure Functions key", High, &[".azurewebsites.net/api/"], "")
        },
        RuleSpec {
            regex: r#"(?i:x-functions-key["']?[ \t]*[:=][ \t]*["']?)(?P<s>[A-Za-z0-9_-]{30,100}(?:==)?)"#.into(),
            window: Window::Element,
            anchors: Vec::new(),
            keywords: vec!["x-functions-key"],
            ..prefix_ci("azure-function-key-header", "Azure Functions key (x-functions-key header)", High, &[], "")
        },
        RuleSpec {
            regex: r#"(?i:ocp-apim-subscription-key["']?[ \t]*[:=][ \t]*["']?|[?&]subscription-key=)(?P<s>[a-f0-9]{32})(?:$|[^0-9A-Za-z])"#.into(),
            window: Window::Element,
            anchors: Vec::new(),
            keywords: vec!["ocp-apim-subscription-key", "subscription-key="],
            ..prefix_ci("azure-apim-subscription-key", "Azure API Management subscription key", High, &[], "")
        },
        keyword("azure-openai-api-key", "Azure OpenAI API key", High, &["azure_openai", "azure-openai", "azureopenai", "aoai"], "[a-f0-9]{32}|[A-Za-z0-9]{84}"),
        keyword("azure-search-key", "Azure AI Search admin or query key", High, &["azure_search", "azure-search", "azuresearch", "search_admin", "search_api", "search_query"], "[0-9a-zA-Z]{52}"),
        RuleSpec {
            regex: r"(?i:Endpoint=https://[a-z0-9-]+\.azconfig\.io;Id=[^;\s]{1,100};Secret=)(?P<s>[A-Za-z0-9+/=]{20,})".into(),
            ..prefix("azure-app-configuration", "Azure App Configuration connection string", High, &["Secret="], "")
        },
        RuleSpec {
            regex: r#"(?i:\.redis\.cache\.windows\.net:\d+,(?:[^,\s"']{0,100},){0,5}?password=)(?P<s>[^,\s"']{20,64})"#.into(),
            ..prefix("azure-cache-redis-key", "Azure Cache for Redis access key", High, &[".redis.cache.windows.net:"], "")
        },
        prefix("azure-entra-refresh-token", "Microsoft Entra ID refresh token", High, &["0.A", "1.A"], r"[01]\.A[\w-]{50,}(?:\.\d)?\.Ag[\w-]{250,}(?:\.A[\w-]{200,})?"),
        RuleSpec {
            regex: r"(?i:SharedAccessKey)\s*=\s*(?P<s>[A-Za-z0-9+/]{42,44}=)".into(),
            ..prefix_ci("azure-shared-access-key", "Azure Service Bus / Event Hubs / IoT shared access key", Critical, &["sharedaccesskey"], "")
        },
        RuleSpec {
            regex: r#"(?:^|[\\'"`\s>=:(,)])(?P<s>[a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34})(?:$|[\\'"`\s<),])"#.into(),
            ..prefix(
                "azure-ad-client-secret",
                "Azure AD (Entra ID) client secret",
                Critical,
                &["0Q~", "1Q~", "2Q~", "3Q~", "4Q~", "5Q~", "6Q~", "7Q~", "8Q~", "9Q~"],
                "",
            )
        },
        RuleSpec {
            regex: r"[?&]sig=(?P<s>[A-Za-z0-9%]{40,60}%3[Dd])".into(),
            ..prefix("azure-sas-token", "Azure shared access signature", High, &["sig="], "")
        },
        prefix(
            "alibaba-access-key-id",
            "Alibaba Cloud access key id",
            High,
            &["LTAI"],
            "LTAI[a-zA-Z0-9]{20}",
        ),
        keyword(
            "alibaba-secret-key",
            "Alibaba Cloud secret key",
            Critical,
            &["alibaba", "aliyun"],
            "[a-zA-Z0-9]{30}",
        ),
        prefix("digitalocean-pat", "DigitalOcean personal access token", Critical, &["dop_v1_"], "dop_v1_[a-f0-9]{64}"),
        prefix("digitalocean-access-token", "DigitalOcean OAuth access token", Critical, &["doo_v1_"], "doo_v1_[a-f0-9]{64}"),
        prefix("digitalocean-refresh-token", "DigitalOcean OAuth refresh token", Critical, &["dor_v1_"], "dor_v1_[a-f0-9]{64}"),
        keyword("heroku-api-key", "Heroku API key", High, &["heroku"], UUID),
        prefix("heroku-api-key-v2", "Heroku API key", High, &["HRKU-AA"], "HRKU-AA[0-9a-zA-Z_-]{58}"),
        keyword("yandex-aws-access-token", "Yandex Cloud static access key", High, &["yandex"], "YC[a-zA-Z0-9_-]{38}"),
        keyword("yandex-api-key", "Yandex Cloud API key", High, &["yandex"], "AQVN[A-Za-z0-9_-]{35,38}"),
        keyword("yandex-access-token", "Yandex Cloud IAM token", High, &["yandex"], r"t1\.[A-Z0-9a-z_-]+={0,2}\.[A-Z0-9a-z_-]{86}={0,2}"),
        prefix(
            "flyio-access-token",
            "Fly.io access token",
            High,
            &["fo1_", "fm1a_", "fm1r_", "fm2_", "FlyV1 "],
            "(?:fo1_[\\w-]{43}|fm1[ar]_[a-zA-Z0-9+/]{100,}={0,3}|fm2_[a-zA-Z0-9+/]{100,}={0,3}|FlyV1 fm\\d+_[a-zA-Z0-9+/]{100,}={0,3})",
        ),
        prefix("scalingo-api-token", "Scalingo API token", High, &["tk-us-"], "tk-us-[\\w-]{48}"),
        keyword("cloudflare-api-key", "Cloudflare API token", High, &["cloudflare"], "[a-zA-Z0-9_-]{40}"),
        keyword("cloudflare-global-api-key", "Cloudflare global API key", Critical, &["cloudflare"], "[a-f0-9]{37}"),
        prefix("cloudflare-origin-ca-key", "Cloudflare origin CA key", High, &["v1.0-"], r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
        prefix("hashicorp-vault-service-token", "HashiCorp Vault service token", Critical, &["hvs."], r"hvs\.[\w-]{24,120}"),
        prefix("hashicorp-vault-batch-token", "HashiCorp Vault batch token", Critical, &["hvb."], r"hvb\.[\w-]{138,300}"),
        keyword("hashicorp-vault-legacy-token", "HashiCorp Vault legacy service token", Critical, &["vault", "token"], r"s\.[A-Za-z0-9]{24}"),
        prefix("hashicorp-tf-api-token", "Terraform Cloud / Enterprise API token", High, &[".atlasv1."], r"[a-z0-9]{14}\.atlasv1\.[a-z0-9=_-]{60,70}"),
        prefix("databricks-api-token", "Databricks API token", High, &["dapi"], "dapi[a-f0-9]{32}(?:-\\d)?"),
        prefix("doppler-api-token", "Doppler API token", High, &["dp."], r"dp\.(?:pt|st|sa|ct|scim|audit)\.[a-zA-Z0-9]{40,44}"),
        prefix("pulumi-api-token", "Pulumi access token", High, &["pul-"], "pul-[a-f0-9]{40}"),
        prefix("grafana-api-key", "Grafana API key", High, &["eyJrIjoi"], "eyJrIjoi[A-Za-z0-9]{70,400}={0,3}"),
        prefix("grafana-cloud-api-token", "Grafana Cloud API token", High, &["glc_"], "glc_[A-Za-z0-9+/]{32,400}={0,3}"),
        prefix("grafana-service-account-token", "Grafana service-account token", High, &["glsa_"], "glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
        prefix("new-relic-user-api-key", "New Relic user API key", High, &["nrak-", "NRAK-"], "(?i:NRAK-[a-z0-9]{27})"),
        prefix("new-relic-insert-key", "New Relic insert key", High, &["nrii-", "NRII-"], "(?i:NRII-[a-z0-9-]{32})"),
        prefix("new-relic-browser-api-token", "New Relic browser API token", Medium, &["nrjs-", "NRJS-"], "(?i:NRJS-[a-f0-9]{19})"),
        keyword("new-relic-user-api-id", "New Relic user API id", Medium, &["new-relic", "newrelic", "new_relic"], "[a-zA-Z0-9]{64}"),
        keyword("datadog-access-token", "Datadog API or application key", High, &["datadog", "dd_api_key", "dd_app_key"], "[a-zA-Z0-9]{32,40}"),
        keyword("sentry-access-token", "Sentry access token", High, &["sentry"], "[a-f0-9]{64}"),
        prefix("sentry-org-token", "Sentry organization token", High, &["sntrys_"], "sntrys_eyJ[a-zA-Z0-9+/=]{60,500}_[a-zA-Z0-9+/]{43}"),
        prefix("sentry-user-token", "Sentry user token", High, &["sntryu_"], "sntryu_[a-f0-9]{64}"),
        prefix("dynatrace-api-token", "Dynatrace API token", High, &["dt0c01.", "DT0C01."], r"(?i:dt0c01\.[a-z0-9]{24}\.[a-z0-9]{64})"),
        prefix("shopify-shared-secret", "Shopify shared secret", High, &["shpss_"], "shpss_[a-fA-F0-9]{32}"),
        prefix("shopify-access-token", "Shopify access token", High, &["shpat_"], "shpat_[a-fA-F0-9]{32}"),
        prefix("shopify-custom-access-token", "Shopify custom app access token", High, &["shpca_"], "shpca_[a-fA-F0-9]{32}"),
        prefix("shopify-private-app-access-token", "Shopify private app access token", High, &["shppa_"], "shppa_[a-fA-F0-9]{32}"),
        prefix("postman-api-token", "Postman API key", High, &["pmak-", "PMAK-"], "(?i:PMAK-[a-f0-9]{24}-[a-f0-9]{34})"),
        prefix("linear-api-key", "Linear API key", High, &["lin_api_", "LIN_API_"], "(?i:lin_api_[a-z0-9]{40})"),
        keyword("linear-client-secret", "Linear OAuth client secret", High, &["linear"], "[a-f0-9]{32}"),
        prefix("notion-api-token", "Notion integration token", High, &["ntn_"], "ntn_[0-9]{11}[A-Za-z0-9]{32}[A-Za-z0-9]{3}"),
        prefix("atlassian-api-token", "Atlassian API token", High, &["ATATT3"], "ATATT3[A-Za-z0-9_=-]{186}"),
        keyword("atlassian-legacy-api-token", "Atlassian (Jira, Confluence) API token", High, &["atlassian", "confluence", "jira"], "[a-zA-Z0-9]{24}"),
        keyword("okta-access-token", "Okta API token", High, &["okta"], "00[\\w=-]{40}"),
        // ---- AI providers
        prefix(
            "openai-api-key",
            "OpenAI API key",
            Critical,
            &["T3BlbkFJ"],
            "sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,200}T3BlbkFJ[A-Za-z0-9_-]{20,200}",
        ),
        prefix("anthropic-api-key", "Anthropic API key", Critical, &["sk-ant-api03-"], "sk-ant-api03-[a-zA-Z0-9_-]{93}AA"),
        prefix("anthropic-admin-api-key", "Anthropic admin API key", Critical, &["sk-ant-admin01-"], "sk-ant-admin01-[a-zA-Z0-9_-]{93}AA"),
        prefix("huggingface-access-token", "Hugging Face access token", High, &["hf_"], "hf_[a-zA-Z]{34}"),
        prefix("huggingface-organization-api-token", "Hugging Face organization API token", High, &["api_org_"], "api_org_[a-zA-Z]{34}"),
        keyword("cohere-api-token", "Cohere API key", High, &["cohere", "co_api_key"], "[a-zA-Z0-9]{40}"),
        prefix("replicate-api-token", "Replicate API token", High, &["r8_"], "r8_[A-Za-z0-9]{37}"),
        prefix("groq-api-key", "Groq API key", High, &["gsk_"], "gsk_[A-Za-z0-9]{52}"),
        keyword("mistral-api-key", "Mistral AI API key", High, &["mistral"], "[A-Za-z0-9]{32}"),
        prefix("perplexity-api-key", "Perplexity API key", High, &["pplx-"], "pplx-[a-zA-Z0-9]{48}"),
        prefix("xai-api-key", "xAI (Grok) API key", High, &["xai-"], "xai-[A-Za-z0-9]{80}"),
        keyword("deepseek-api-key", "DeepSeek API key", High, &["deepseek"], "sk-[a-f0-9]{32}"),
        prefix("langsmith-api-key", "LangSmith API key", High, &["lsv2_"], "lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
        prefix("langfuse-secret-key", "Langfuse secret key", High, &["sk-lf-"], "sk-lf-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        keyword("braintrust-api-key", "Braintrust API key", High, &["braintrust"], "sk-[A-Za-z0-9]{48}"),
        prefix("pinecone-api-key", "Pinecone API key", High, &["pcsk_"], "pcsk_[A-Za-z0-9_]{50,80}"),
        keyword("elevenlabs-api-key", "ElevenLabs API key", High, &["elevenlabs", "xi-api-key", "xi_api_key"], "(?:sk_)?[a-f0-9]{32,48}"),
        keyword("together-api-key", "Together AI API key", High, &["together_api", "togetherai", "together-api"], "(?:tgp_v1_)?[A-Za-z0-9_-]{40,64}"),
        keyword("privateai-api-token", "Private AI API token", High, &["privateai", "private_ai", "private-ai"], "[a-z0-9]{32}"),
        // ---- Payments and finance
        prefix(
            "stripe-access-token",
            "Stripe secret or restricted key",
            Critical,
            &["sk_test_", "sk_live_", "sk_prod_", "rk_test_", "rk_live_", "rk_prod_"],
            "(?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99}",
        ),
        prefix("stripe-webhook-secret", "Stripe webhook signing secret", High, &["whsec_"], "whsec_[a-zA-Z0-9+/=]{32,}"),
        prefix("square-access-token", "Square access token", Critical, &["EAAA", "sq0atp-"], "(?:EAAA|sq0atp-)[\\w-]{22,60}"),
        prefix("square-secret", "Square OAuth secret", Critical, &["sq0csp-"], "sq0csp-[0-9A-Za-z\\\\\\]^_-]{43}"),
        prefix(
            "braintree-access-token",
            "Braintree / PayPal access token",
            Critical,
            &["access_token$production$", "access_token$sandbox$"],
            "access_token\\$(?:production|sandbox)\\$[0-9a-z]{16}\\$[0-9a-f]{32}",
        ),
        keyword("paypal-client-secret", "PayPal client secret", Critical, &["paypal"], "E[A-Za-z0-9_-]{79}"),
        keyword("plaid-client-id", "Plaid client id", Medium, &["plaid"], "[a-z0-9]{24}"),
        keyword("plaid-secret-key", "Plaid secret key", High, &["plaid"], "[a-z0-9]{30}"),
        prefix(
            "plaid-api-token",
            "Plaid access token",
            High,
            &["access-sandbox-", "access-development-", "access-production-"],
            &format!("access-(?:sandbox|development|production)-{UUID}"),
        ),
        prefix("flutterwave-public-key", "Flutterwave public key", Medium, &["flwpubk_test-", "FLWPUBK_TEST-", "flwpubk-", "FLWPUBK-"], "(?i:FLWPUBK(?:_TEST)?-[a-h0-9]{32}-X)"),
        prefix("flutterwave-secret-key", "Flutterwave secret key", Critical, &["flwseck_test-", "FLWSECK_TEST-", "flwseck-", "FLWSECK-"], "(?i:FLWSECK(?:_TEST)?-[a-h0-9]{32}-X)"),
        prefix("flutterwave-encryption-key", "Flutterwave encryption key", High, &["flwseck_test-", "FLWSECK_TEST-", "flwseck-", "FLWSECK-"], "(?i:FLWSECK(?:_TEST)?-[a-h0-9]{12})"),
        keyword("gocardless-api-token", "GoCardless API token", High, &["gocardless"], "live_[a-zA-Z0-9=_-]{40}"),
        keyword("coinbase-access-token", "Coinbase access token", High, &["coinbase"], "[a-zA-Z0-9_-]{64}"),
        keyword("kraken-access-token", "Kraken access token", High, &["kraken"], "[a-zA-Z0-9/=_+-]{80,90}"),
        keyword("kucoin-access-token", "KuCoin access token", High, &["kucoin"], "[a-f0-9]{24}"),
        keyword("kucoin-secret-key", "KuCoin secret key", High, &["kucoin"], UUID),
        keyword("bittrex-api-key", "Bittrex access or secret key", High, &["bittrex"], "[a-zA-Z0-9]{32}"),
        keyword("finicity-client-secret", "Finicity client secret", High, &["finicity"], "[a-zA-Z0-9]{20}"),
        keyword("finicity-api-token", "Finicity API token", High, &["finicity"], "[a-f0-9]{32}"),
        keyword("finnhub-access-token", "Finnhub access token", Medium, &["finnhub"], "[a-zA-Z0-9]{20}"),
        prefix("duffel-api-token", "Duffel API token", High, &["duffel_test_", "DUFFEL_TEST_", "duffel_live_", "DUFFEL_LIVE_"], "(?i:duffel_(?:test|live)_[a-z0-9_=-]{43})"),
        prefix("easypost-api-token", "EasyPost API key", High, &["EZAK"], "EZAK(?i:[a-z0-9]{54})"),
        prefix("easypost-test-api-token", "EasyPost test API key", Medium, &["EZTK"], "EZTK(?i:[a-z0-9]{54})"),
        prefix("shippo-api-token", "Shippo API token", High, &["shippo_live_", "shippo_test_"], "shippo_(?:live|test)_[a-fA-F0-9]{40}"),
        keyword("lob-api-key", "Lob API key", High, &["lob"], "(?:live|test)_[a-f0-9]{35}"),
        keyword("lob-pub-api-key", "Lob publishable API key", Medium, &["lob"], "(?:test|live)_pub_[a-f0-9]{31}"),
        // ---- Messaging
        prefix("slack-bot-token", "Slack bot token", High, &["xoxb-"], "xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*"),
        prefix("slack-user-token", "Slack user token", High, &["xoxp-", "xoxe-"], "xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}"),
        prefix("slack-app-token", "Slack app-level token", High, &["xapp-", "XAPP-"], "(?i:xapp-\\d-[A-Z0-9]+-\\d+-[a-z0-9]+)"),
        prefix("slack-config-access-token", "Slack configuration access token", High, &["xoxe.xox", "XOXE.XOX"], "(?i:xoxe\\.xox[bp]-\\d-[A-Z0-9]{163,166})"),
        prefix("slack-config-refresh-token", "Slack configuration refresh token", High, &["xoxe-", "XOXE-"], "(?i:xoxe-\\d-[A-Z0-9]{146})"),
        prefix("slack-legacy-bot-token", "Slack legacy bot token", High, &["xoxb-"], "xoxb-[0-9]{8,14}-[a-zA-Z0-9]{18,26}"),
        prefix("slack-legacy-workspace-token", "Slack legacy workspace token", High, &["xoxa-", "xoxr-"], "xox[ar]-(?:\\d-)?[0-9a-zA-Z]{8,48}(?:-[0-9a-zA-Z]{8,48}){0,4}"),
        prefix("slack-legacy-token", "Slack legacy token", High, &["xoxo-", "xoxs-"], "xox[os]-\\d+-\\d+-\\d+-[a-fA-F\\d]+"),
        prefix(
            "slack-webhook-url",
            "Slack incoming webhook URL",
            High,
            &["hooks.slack.com/"],
            "(?:https?://)?hooks\\.slack\\.com/(?:(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}|services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{23,25}|(?:workflows|triggers)/T[A-Z0-9]+/A[A-Z0-9]+/[0-9]{17,19}/[A-Za-z0-9]{23,24})",
        ),
        // Beside the service's name only: a two-byte anchor (`SK`) would slow every scan.
        keyword("twilio-api-key", "Twilio API key", High, &["twilio"], "SK[0-9a-zA-Z]{32}"),
        keyword("twilio-auth-token", "Twilio auth token", High, &["twilio"], "[0-9a-f]{32}"),
        prefix("sendgrid-api-token", "SendGrid API key", High, &["SG."], "SG\\.(?i:[a-z0-9=_.-]{66})"),
        keyword("mailgun-private-api-token", "Mailgun private API key", High, &["mailgun"], "key-[a-f0-9]{32}"),
        keyword("mailgun-pub-key", "Mailgun public validation key", Medium, &["mailgun"], "pubkey-[a-f0-9]{32}"),
        keyword("mailgun-signing-key", "Mailgun webhook signing key", High, &["mailgun"], "[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}"),
        keyword("mailchimp-api-key", "Mailchimp API key", High, &["mailchimp", "mc_api"], "[a-f0-9]{32}-us\\d{1,2}"),
        prefix_ci("sendinblue-api-token", "Brevo (Sendinblue) API key", High, &["xkeysib-"], "(?i:xkeysib-[a-f0-9]{64}-[a-z0-9]{16})"),
        keyword("discord-api-token", "Discord API token", High, &["discord"], "[a-f0-9]{64}"),
        keyword("discord-client-id", "Discord client id", Medium, &["discord"], "[0-9]{18}"),
        keyword("discord-client-secret", "Discord client secret", High, &["discord"], "[a-zA-Z0-9=_-]{32}"),
        prefix(
            "discord-webhook-url",
            "Discord webhook URL",
            High,
            &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
            "https?://(?:ptb\\.|canary\\.)?discord(?:app)?\\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68}",
        ),
        keyword("telegram-bot-api-token", "Telegram bot token", High, &["telegram", "tgbot", "tg_bot", "tg-bot"], "[0-9]{5,16}:A[a-zA-Z0-9_-]{34}"),
        // By its format alone (a bot id, `:AA`, 33 more characters), wherever it stands: PicoClaw
        // keeps it under `channels.telegram.token`, with "telegram" on another line.
        prefix("telegram-bot-token", "Telegram bot token", High, &[":AA"], "[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
        RuleSpec {
            regex: "api\\.telegram\\.org/bot(?P<s>[0-9]{5,16}:A[a-zA-Z0-9_-]{34})".into(),
            ..prefix("telegram-bot-url", "Telegram bot token in an API URL", High, &["api.telegram.org/bot"], "")
        },
        prefix_ci(
            "microsoft-teams-webhook",
            "Microsoft Teams incoming webhook URL",
            High,
            &[".webhook.office.com/"],
            "(?i:https://[a-z0-9-]+\\.webhook\\.office\\.com/webhookb2/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}@[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12})",
        ),
        RuleSpec {
            regex: r"(?i:https://[a-z0-9]+\.\d+\.environment\.api\.powerplatform\.com(?::\d+)?/powerautomate/automations/direct/workflows/[a-f0-9]{32}/triggers/manual/paths/invoke\?[^\s]{0,400}?[?&]sig=)(?P<s>[A-Za-z0-9_-]{20,})".into(),
            ..prefix("microsoft-teams-workflow-webhook", "Microsoft Teams (Power Automate) workflow webhook URL", High, &["sig="], "")
        },
        keyword("mattermost-access-token", "Mattermost access token", High, &["mattermost"], "[a-zA-Z0-9]{26}"),
        keyword("messagebird-api-token", "MessageBird API token", High, &["messagebird", "message-bird", "message_bird"], "[a-zA-Z0-9]{25}"),
        keyword("messagebird-client-id", "MessageBird client id", Medium, &["messagebird", "message-bird", "message_bird"], UUID),
        keyword("sendbird-access-token", "Sendbird access token", High, &["sendbird"], "[a-f0-9]{40}"),
        keyword("sendbird-access-id", "Sendbird application id", Medium, &["sendbird"], UUID),
        keyword("gitter-access-token", "Gitter access token", High, &["gitter"], "[a-zA-Z0-9_-]{40}"),
        keyword("intercom-api-key", "Intercom access token", High, &["intercom"], "[a-zA-Z0-9=_-]{60}"),
        keyword("zendesk-secret-key", "Zendesk API token", High, &["zendesk"], "[a-zA-Z0-9]{40}"),
        keyword("twitch-api-token", "Twitch API token", High, &["twitch"], "[a-zA-Z0-9]{30}"),
        keyword("twitter-api-key", "Twitter (X) API key", High, &["twitter"], "[a-zA-Z0-9]{25}"),
        keyword("twitter-api-secret", "Twitter (X) API secret", High, &["twitter"], "[a-zA-Z0-9]{50}"),
        keyword("twitter-bearer-token", "Twitter (X) bearer token", High, &["twitter"], "A{22}[a-zA-Z0-9%]{80,100}"),
        keyword("twitter-access-token", "Twitter (X) access token", High, &["twitter"], "[0-9]{15,25}-[a-zA-Z0-9]{20,40}"),
        keyword("twitter-access-secret", "Twitter (X) access token secret", High, &["twitter"], "[a-zA-Z0-9]{45}"),
        keyword("facebook-secret", "Facebook app secret", High, &["facebook"], "[a-f0-9]{32}"),
        RuleSpec {
            regex: "(?m)(?i:facebook)[^\\n]{0,40}?(?P<s>[0-9]{15,16}(?:\\||%7[Cc])[0-9A-Za-z_-]{27,40})(?:$|[^0-9A-Za-z_-])".into(),
            ..prefix_ci("facebook-access-token", "Facebook app access token", High, &["facebook"], "")
        },
        prefix("facebook-page-access-token", "Facebook page access token", High, &["EAAM", "EAAC"], "EAA[MC][a-zA-Z0-9]{100,}"),
        keyword("linkedin-client-id", "LinkedIn client id", Medium, &["linkedin", "linked-in", "linked_in"], "[a-zA-Z0-9]{14}"),
        keyword("linkedin-client-secret", "LinkedIn client secret", High, &["linkedin", "linked-in", "linked_in"], "[a-zA-Z0-9]{16}"),
        // ---- Source hosting
        RuleSpec {
            check: Check::GithubChecksum,
            ..prefix("github-pat", "GitHub personal access token (classic)", Critical, &["ghp_"], "ghp_[0-9a-zA-Z]{36}")
        },
        RuleSpec {
            check: Check::GithubChecksum,
            ..prefix("github-oauth", "GitHub OAuth access token", Critical, &["gho_"], "gho_[0-9a-zA-Z]{36}")
        },
        RuleSpec {
            check: Check::GithubChecksum,
            ..prefix("github-app-token", "GitHub App token", Critical, &["ghu_", "ghs_"], "(?:ghu|ghs)_[0-9a-zA-Z]{36}")
        },
        RuleSpec {
            check: Check::GithubChecksum,
            ..prefix("github-refresh-token", "GitHub refresh token", Critical, &["ghr_"], "ghr_[0-9a-zA-Z]{36}")
        },
        RuleSpec {
            check: Check::GithubChecksum,
            ..prefix("github-fine-grained-pat", "GitHub fine-grained personal access token", Critical, &["github_pat_"], "github_pat_[0-9a-zA-Z]{22}_[0-9a-zA-Z]{59}")
        },
        prefix("gitlab-pat", "GitLab personal access token", Critical, &["glpat-"], "glpat-[\\w-]{20}"),
        prefix("gitlab-pat-routable", "GitLab routable personal access token", Critical, &["glpat-"], "glpat-[0-9a-zA-Z_-]{27,300}\\.[0-9a-z]{2}[0-9a-z]{7}"),
        prefix("gitlab-ptt", "GitLab pipeline trigger token", High, &["glptt-"], "glptt-[0-9a-f]{40}"),
        prefix("gitlab-rrt", "GitLab runner registration token", High, &["GR1348941"], "GR1348941[\\w-]{20}"),
        prefix("gitlab-cicd-job-token", "GitLab CI/CD job token", High, &["glcbt-"], "glcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20}"),
        prefix("gitlab-deploy-token", "GitLab deploy token", High, &["gldt-"], "gldt-[0-9a-zA-Z_-]{20}"),
        prefix("gitlab-feature-flag-client-token", "GitLab feature-flag client token", Medium, &["glffct-"], "glffct-[0-9a-zA-Z_-]{20}"),
        prefix("gitlab-feed-token", "GitLab feed token", Medium, &["glft-"], "glft-[0-9a-zA-Z_-]{20}"),
        prefix("gitlab-incoming-mail-token", "GitLab incoming mail token", Medium, &["glimt-"], "glimt-[0-9a-zA-Z_-]{25}"),
        prefix("gitlab-kubernetes-agent-token", "GitLab Kubernetes agent token", High, &["glagent-"], "glagent-[0-9a-zA-Z_-]{50}"),
        prefix("gitlab-oauth-app-secret", "GitLab OAuth application secret", High, &["gloas-"], "gloas-[0-9a-zA-Z_-]{64}"),
        prefix("gitlab-runner-authentication-token", "GitLab runner authentication token", High, &["glrt-"], "glrt-[0-9a-zA-Z_-]{20}"),
        prefix("gitlab-runner-authentication-token-routable", "GitLab routable runner token", High, &["glrt-t"], "glrt-t\\d_[0-9a-zA-Z_-]{27,300}\\.[0-9a-z]{2}[0-9a-z]{7}"),
        prefix("gitlab-scim-token", "GitLab SCIM token", High, &["glsoat-"], "glsoat-[0-9a-zA-Z_-]{20}"),
        RuleSpec {
            regex: "_gitlab_session=(?P<s>[0-9a-z]{32})".into(),
            ..prefix("gitlab-session-cookie", "GitLab session cookie", High, &["_gitlab_session="], "")
        },
        keyword("bitbucket-client-id", "Bitbucket OAuth client id", Medium, &["bitbucket"], "[a-zA-Z0-9]{32}"),
        keyword("bitbucket-client-secret", "Bitbucket OAuth client secret", High, &["bitbucket"], "[a-zA-Z0-9=_-]{64}"),
        prefix("bitbucket-app-password", "Bitbucket app password / API token", High, &["ATBB"], "ATBB[a-zA-Z0-9_=.-]{28,64}"),
        prefix("sourcegraph-access-token", "Sourcegraph access token", High, &["sgp_"], "sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}"),
        // ---- Package registries and CI
        prefix("npm-access-token", "npm access token", Critical, &["npm_", "NPM_"], "(?i:npm_[a-z0-9]{36})"),
        prefix("pypi-upload-token", "PyPI upload token", Critical, &["pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"], "pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}"),
        prefix("dockerhub-pat", "Docker Hub access token", High, &["dckr_pat_", "dckr_oat_"], "dckr_(?:pat|oat)_[a-zA-Z0-9_-]{27,32}"),
        prefix("crates-io-api-token", "crates.io API token", High, &["cio"], "cio[a-zA-Z0-9]{32}"),
        prefix("rubygems-api-token", "RubyGems API key", High, &["rubygems_"], "rubygems_[a-f0-9]{48}"),
        prefix("clojars-api-token", "Clojars deploy token", High, &["clojars_", "CLOJARS_"], "(?i:CLOJARS_[a-z0-9]{60})"),
        prefix("nuget-api-key", "NuGet API key", High, &["oy2"], "oy2[a-z0-9]{43}"),
        prefix("artifactory-api-key", "JFrog Artifactory API key", High, &["AKCp"], "AKCp[A-Za-z0-9]{69}"),
        prefix("artifactory-reference-token", "JFrog Artifactory reference token", High, &["cmVmd"], "cmVmd[A-Za-z0-9]{59}"),
        keyword("jfrog-identity-token", "JFrog identity token", High, &["jfrog", "artifactory", "bintray", "xray"], "[a-zA-Z0-9]{64}"),
        keyword("jfrog-api-key", "JFrog API key", High, &["jfrog", "artifactory", "bintray", "xray"], "[a-zA-Z0-9]{73}"),
        keyword("snyk-api-token", "Snyk API token", High, &["snyk"], UUID),
        keyword("sonar-api-token", "SonarQube / SonarCloud token", High, &["sonar"], "(?:squ_|sqp_|sqa_)?[a-zA-Z0-9=_-]{40}"),
        keyword("codecov-access-token", "Codecov access token", Medium, &["codecov"], "[a-zA-Z0-9]{32}"),
        keyword("travisci-access-token", "Travis CI access token", High, &["travis"], "[a-zA-Z0-9]{22}"),
        keyword("droneci-access-token", "Drone CI access token", High, &["droneci", "drone_token", "drone-token"], "[a-zA-Z0-9]{32}"),
        prefix("buildkite-api-token", "Buildkite API access token", High, &["bkua_"], "bkua_[a-z0-9]{40}"),
        keyword("buildkite-api-token-legacy", "Buildkite API access token", High, &["buildkite"], "[a-f0-9]{40}"),
        prefix("circleci-pat", "CircleCI personal API token", High, &["CCIPAT_"], "CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}"),
        keyword("netlify-access-token", "Netlify access token", High, &["netlify"], "[a-zA-Z0-9=_-]{40,46}"),
        keyword("vercel-access-token", "Vercel access token", High, &["vercel"], "[A-Za-z0-9]{24}"),
        keyword("launchdarkly-access-token", "LaunchDarkly access token", High, &["launchdarkly"], "[a-zA-Z0-9=_-]{40}"),
        keyword("harness-legacy-token", "Harness token", High, &["harness"], "[a-zA-Z0-9]{40}"),
        prefix("harness-api-key", "Harness API key", High, &["pat.", "sat."], "(?:pat|sat)\\.[a-zA-Z0-9_-]{22}\\.[a-zA-Z0-9]{24}\\.[a-zA-Z0-9]{20}"),
        prefix("infracost-api-token", "Infracost API token", Medium, &["ico-"], "ico-[a-zA-Z0-9]{32}"),
        prefix("prefect-api-token", "Prefect API key", High, &["pnu_"], "pnu_[a-zA-Z0-9]{36}"),
        prefix("readme-api-token", "ReadMe API key", High, &["rdme_"], "rdme_[a-z0-9]{70}"),
        prefix("typeform-api-token", "Typeform personal token", High, &["tfp_"], "tfp_(?i:[a-z0-9_.=-]{59})"),
        prefix("openshift-user-token", "OpenShift user token", High, &["sha256~"], "sha256~[\\w-]{43}"),
        prefix("octopus-deploy-api-key", "Octopus Deploy API key", High, &["API-"], "API-[A-Z0-9]{26}"),
        // Longer keys next to the service's name only: `API-` and 32 hex digits is also a page id.
        keyword("octopus-deploy-api-key-long", "Octopus Deploy API key", High, &["octopus"], "API-[A-Z0-9]{27,34}"),
        // ---- SaaS
        prefix("onepassword-secret-key", "1Password account secret key", Critical, &["A3-"], "A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}"),
        prefix("onepassword-service-account-token", "1Password service-account token", Critical, &["ops_eyJ"], "ops_eyJ[a-zA-Z0-9+/]{250,}={0,3}"),
        RuleSpec {
            check: Check::Format,
            ..prefix("age-secret-key", "age encryption secret key", Critical, &["AGE-SECRET-KEY-1"], "AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}")
        },
        keyword("adafruit-api-key", "Adafruit IO key", Medium, &["adafruit"], "[a-zA-Z0-9_-]{32}"),
        keyword("adobe-client-id", "Adobe client id", Medium, &["adobe"], "[a-f0-9]{32}"),
        prefix("adobe-client-secret", "Adobe client secret", High, &["p8e-"], "p8e-[a-zA-Z0-9]{32}"),
        keyword("airtable-api-key", "Airtable API key", High, &["airtable"], "[a-zA-Z0-9]{17}"),
        keyword("airtable-personal-access-token", "Airtable personal access token", High, &["airtable"], "pat[A-Za-z0-9]{14}\\.[a-f0-9]{64}"),
        keyword("algolia-api-key", "Algolia API key", High, &["algolia"], "[a-zA-Z0-9]{32}"),
        keyword("asana-client-id", "Asana client id", Medium, &["asana"], "[0-9]{16}"),
        keyword("asana-client-secret", "Asana client secret", High, &["asana"], "[a-zA-Z0-9]{32}"),
        prefix_ci("authress-service-client-access-key", "Authress service-client access key", High, &[".acc_", ".acc-"], "(?i:(?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\\.[a-z0-9]{4,6}\\.acc[_-][a-z0-9-]{10,32}\\.[a-z0-9+/_=-]{30,120})"),
        keyword("beamer-api-token", "Beamer API token", Medium, &["beamer"], "b_[a-zA-Z0-9=_-]{44}"),
        prefix("clickhouse-cloud-api-secret-key", "ClickHouse Cloud API secret key", High, &["4b1d"], "4b1d[A-Za-z0-9]{38}"),
        keyword("confluent-access-token", "Confluent access key", High, &["confluent"], "[a-zA-Z0-9]{16}"),
        keyword("confluent-secret-key", "Confluent secret key", High, &["confluent"], "[a-zA-Z0-9]{64}"),
        keyword("contentful-delivery-api-token", "Contentful delivery API token", Medium, &["contentful"], "[a-zA-Z0-9=_-]{43}"),
        prefix_ci("defined-networking-api-token", "Defined Networking API token", High, &["dnkey-"], "(?i:dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52})"),
        keyword("dropbox-api-token", "Dropbox API secret", High, &["dropbox"], "[a-zA-Z0-9]{15}"),
        prefix("dropbox-short-lived-token", "Dropbox short-lived access token", High, &["sl."], "sl\\.[A-Za-z0-9_=-]{135,1400}"),
        keyword("etsy-access-token", "Etsy access token", Medium, &["etsy"], "[a-zA-Z0-9]{24}"),
        keyword("fastly-api-token", "Fastly API token", High, &["fastly"], "[a-zA-Z0-9=_-]{32}"),
        keyword("flickr-access-token", "Flickr access token", Medium, &["flickr"], "[a-zA-Z0-9]{32}"),
        prefix("frameio-api-token", "Frame.io API token", High, &["fio-u-", "FIO-U-"], "(?i:fio-u-[a-z0-9_=-]{64})"),
        keyword("freshbooks-access-token", "FreshBooks access token", High, &["freshbooks"], "[a-zA-Z0-9]{64}"),
        keyword("hubspot-api-key", "HubSpot API key", High, &["hubspot"], UUID),
        prefix("hubspot-private-app-token", "HubSpot private app token", High, &["pat-na1-", "pat-eu1-"], &format!("pat-(?:na1|eu1)-{UUID}")),
        prefix("intra42-client-secret", "42 Intra client secret", High, &["s-s4t2"], "s-s4t2(?:ud|af)-[a-f0-9]{64}"),
        prefix_ci("mapbox-api-token", "Mapbox access token", Medium, &["pk.", "sk."], "(?i:[ps]k\\.[a-z0-9]{60}\\.[a-z0-9]{22})"),
        prefix("maxmind-license-key", "MaxMind license key", High, &["_mmk"], "[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk"),
        keyword("cisco-meraki-api-key", "Cisco Meraki API key", High, &["meraki"], "[0-9a-f]{40}"),
        keyword("nytimes-access-token", "New York Times API key", Medium, &["nytimes", "new-york-times", "newyorktimes"], "[a-zA-Z0-9=_-]{32}"),
        prefix("planetscale-password", "PlanetScale password", Critical, &["pscale_pw_"], "pscale_pw_[\\w=.-]{32,64}"),
        prefix("planetscale-api-token", "PlanetScale API token", High, &["pscale_tkn_"], "pscale_tkn_[\\w=.-]{32,64}"),
        prefix("planetscale-oauth-token", "PlanetScale OAuth token", High, &["pscale_oauth_"], "pscale_oauth_[\\w=.-]{32,64}"),
        keyword("rapidapi-access-token", "RapidAPI key", High, &["rapidapi"], "[a-zA-Z0-9_-]{50}"),
        RuleSpec {
            anchors: vec!["__contribsys__com"],
            keywords: Vec::new(),
            ..keyword(
                "sidekiq-secret",
                "Sidekiq Enterprise credentials",
                High,
                &["BUNDLE_ENTERPRISE__CONTRIBSYS__COM", "BUNDLE_GEMS__CONTRIBSYS__COM"],
                "[a-f0-9]{8}:[a-f0-9]{8}",
            )
        },
        prefix_ci("sidekiq-sensitive-url", "Sidekiq Enterprise credentials in a URL", High, &["@gems.contribsys", "@enterprise.contribsys"], "(?i:[a-f0-9]{8}:[a-f0-9]{8}@(?:gems|enterprise)\\.contribsys\\.com)"),
        prefix("settlemint-access-token", "SettleMint access token", High, &["sm_pat_", "sm_aat_", "sm_sat_"], "sm_(?:pat|aat|sat)_[a-zA-Z0-9]{16}"),
        keyword("squarespace-access-token", "Squarespace access token", High, &["squarespace"], UUID),
        keyword("sumologic-access-id", "Sumo Logic access id", Medium, &["sumologic", "sumo"], "su[a-zA-Z0-9]{12}"),
        keyword("sumologic-access-token", "Sumo Logic access key", High, &["sumologic", "sumo"], "[a-zA-Z0-9]{64}"),
        keyword("trello-access-token", "Trello API token", High, &["trello"], "[a-zA-Z0-9-]{32}"),
        keyword("mongodb-atlas-api-key", "MongoDB Atlas private API key", High, &["atlas_private", "mongodb_atlas", "atlas-private"], UUID),
        RuleSpec {
            regex: "AC[a-f0-9]{32}:(?P<s>[a-f0-9]{32})@api\\.twilio\\.com".into(),
            ..prefix("twilio-auth-url", "Twilio credentials in a URL", High, &["@api.twilio.com"], "")
        },
        // ---- Keys, tokens and credentials of any service
        RuleSpec {
            check: Check::PrivateKeyBody,
            window: Window::Lines { before: 200, after: 20_000 },
            regex: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?P<s>[\s\S]*?)-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----".into(),
            ..prefix("private-key", "Private key (PEM, OpenSSH, PGP)", Critical, &["PRIVATE KEY"], "")
        },
        RuleSpec {
            check: Check::Entropy(0.0),
            window: Window::Lines { before: 0, after: 4_000 },
            regex: r"(?m)PuTTY-User-Key-File-\d+:[^\n]*\n(?:[^\n]*\n){0,6}?Private-Lines: \d+\n(?P<s>(?:[A-Za-z0-9+/=]+\n?)+)".into(),
            ..prefix("putty-private-key", "PuTTY private key", Critical, &["PuTTY-User-Key-File-"], "")
        },
        RuleSpec {
            check: Check::Jwt,
            regex: format!("(?m){L}(?P<s>eyJ[A-Za-z0-9_-]{{8,}}\\.eyJ[A-Za-z0-9_-]{{8,}}\\.[A-Za-z0-9_-]{{8,}}){R}"),
            ..prefix("jwt", "JSON Web Token", High, &["eyJ"], "")
        },
        RuleSpec {
            check: Check::UrlPassword,
            regex: r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@?#'`]{0,128}:(?P<s>[^\s/@?'`]{3,128})@[0-9a-z\[]".into(),
            ..prefix_ci("url-credentials", "Password in a URL or connection string", High, &["://"], "")
        },
        RuleSpec {
            check: Check::Entropy(2.0),
            regex: r#"(?i)authorization["']?\s*[:=]\s*["']?\s*(?:(?:basic|bearer|token|digest|apikey|sso-key)\s+)?(?P<s>[A-Za-z0-9+/=._~:-]{8,4000})"#.into(),
            ..prefix_ci("authorization-header", "Credential in an Authorization header", High, &["authorization"], "")
        },
        RuleSpec {
            check: Check::UrlPassword,
            regex: r#"(?m)\bcurl\b[^\n]{0,400}?\s(?:-u|--user)\s*['"]?(?P<s>[^\s'"]{0,128}:[^\s'"]{0,128})"#.into(),
            ..prefix("curl-auth-user", "Credentials passed to curl with -u", High, &["curl"], "")
        },
        RuleSpec {
            check: Check::Password,
            regex: r#"(?i)jdbc:[a-z0-9]{2,20}:[^\s"'<>]{0,300}?[?&;:](?:password|pwd)=(?P<s>[^&;\s"'<>]{1,128})"#.into(),
            ..prefix("jdbc-password", "Password in a JDBC connection string", High, &["jdbc:"], "")
        },
        RuleSpec {
            check: Check::Password,
            regex: r#"(?i)jdbc:oracle:(?:thin|oci):[\w.$-]{1,64}/(?P<s>[^@\s"'/]{1,128})@"#.into(),
            ..prefix("jdbc-oracle-password", "Password in an Oracle JDBC connection string", High, &["jdbc:"], "")
        },
        RuleSpec {
            // ADO.NET, ODBC, SQL Server and libpq key=value strings: a host or user setting, then
            // the password.
            check: Check::Password,
            regex: r#"(?i)(?:^|[\s;"'])(?:server|data\s+source|host|hostaddr|hostname|address|addr|network\s+address|dsn|driver|uid|user\s+id|user|username)\s*=[^;\n]{1,200}[;\s](?:[^;\n]{0,200};){0,10}?\s*(?:password|pwd)=\{?(?P<s>[^;\n\s"'{}]{1,128})"#.into(),
            // Woken by the setting itself, not by every "password" in a text.
            ..prefix("connection-string-password", "Password in a database connection string", High, &["password=", "Password=", "PASSWORD=", "pwd=", "Pwd=", "PWD="], "")
        },
        RuleSpec {
            check: Check::Password,
            regex: r#"(?im)^[ \t]*(?:ldap_default_authtok|ldap_bind_pw)[ \t]*[=: \t][ \t]*["']?(?P<s>[^\s"']{4,128})"#.into(),
            ..prefix("ldap-config-password", "LDAP bind password in a client configuration", High, &["authtok", "bind_pw"], "")
        },
        RuleSpec {
            // A password given on a command line: `mysql -pPASS`, `mysqldump --password=PASS`,
            // `sshpass -p PASS`, `ldapsearch -w PASS`, `redis-cli -a PASS`, `sqlcmd -P PASS`.
            check: Check::Password,
            regex: r#"(?i)\b(?:(?:mysql\w*|mariadb\w*)\b[^\n|;&]{0,300}?\s(?-i:-p|--password=)|sshpass\b(?:[^\n|;&]{0,100}?)?\s(?-i:-p)\s*|ldap(?:search|modify|add|delete|whoami|passwd|compare|modrdn)\b[^\n|;&]{0,300}?\s(?-i:-w)\s*|redis-cli\b[^\n|;&]{0,300}?\s(?:(?-i:-a)\s*|--pass\s+)|(?:sqlcmd|bcp)\b[^\n|;&]{0,300}?\s(?-i:-P)\s*|(?:docker|podman|nerdctl|helm\s+registry)\s+login\b[^\n|;&]{0,300}?\s(?:(?-i:-p)\s+|--password[= ])|mongo(?:sh|dump|restore|import|export)?\b[^\n|;&]{0,300}?\s(?:(?-i:-p)\s+|--password[= ]))(?P<q>['"])?(?P<s>[^\s'"-][^\s'"]{2,127})"#.into(),
            ..prefix("cli-password", "Password given on a command line", High,
                // Plain-prose anchors cost a pass over every text per sixteen: `mysql` is one,
                // `sshpass` shares `pass`; the other tools are found by their flag.
                &["mysql", "sshpass", "redis-cli", " -w ", " -P ", " -p ", "--password"], "")
        },
        RuleSpec {
            check: Check::BasicAuthBase64,
            regex: r#"\\?"auth\\?"\s*:\s*\\?"(?P<s>[A-Za-z0-9+/]{8,}={0,2})\\?""#.into(),
            ..prefix("docker-config-auth", "Docker registry credentials (config.json auth)", High, &["\"auth\""], "")
        },
        RuleSpec {
            check: Check::Generic,
            regex: r#"(?i)<add\s+key\s*=\s*"(?:ClearText)?Password"\s+value\s*=\s*"(?P<s>[^"]{4,256})""#.into(),
            ..prefix_ci("nuget-config-password", "Cleartext password in a NuGet configuration", High, &["password"], "")
        },
        RuleSpec {
            check: Check::KubernetesSecret,
            window: Window::Lines { before: 2_000, after: 2_000 },
            // The first entry under `data:` long enough to hold a credential: quoted or not, or as
            // a block scalar (`.dockercfg: |`).
            regex: r#"(?i)(?:^|[\s;])(?:kind:\s*secret\b[\s\S]*?\bdata:|\bdata:)[^\n]{0,40}?\r?\n(?:(?:[ \t]*#[^\n]*|[ \t]+[\w.-]+:[^\n]*)\r?\n)*?[ \t]+[\w.-]+:[ \t]*(?:[|>][-+]?[ \t]*\r?\n[ \t]+)?["']?(?P<s>[A-Za-z0-9+/]{12,}={0,2})["']?[ \t]*(?:\r?\n|$)"#.into(),
            ..prefix_ci("kubernetes-secret-yaml", "Kubernetes Secret manifest with data", High, &["secret"], "")
        },
    ];
    // The generic rule goes last: specific rules win over it when both find the same value.
    r.push(RuleSpec {
        id: GENERIC_RULE,
        description: "Secret-looking value assigned to a secret-looking name",
        severity: Medium,
        anchors: WAKE_WORDS.to_vec(),
        anchors_ci: true,
        keywords: Vec::new(),
        regex: generic_regex(&format!(
            "[0-9A-Za-z_.\\-]*(?i:{})[0-9A-Za-z_.\\-]*",
            GENERIC_KEYWORDS
                .iter()
                .map(|k| regex_escape(k))
                .collect::<Vec<_>>()
                .join("|")
        )),
        groups: Some(generic_regex("[0-9A-Za-z_.\\-]*")),
        check: Check::Generic,
        window: Window::Element,
    });
    r
}
