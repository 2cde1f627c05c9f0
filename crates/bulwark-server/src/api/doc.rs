//! The OpenAPI document: generated from the handlers (utoipa), then completed with what every
//! route shares: the error answers and their body, the id formats, and the intent body from core's
//! JSON Schema. Schemathesis checks the served API against it (`tests/schemathesis.rs`).

use super::*;
use serde_json::{Value, json};
use std::sync::LazyLock;

pub(crate) struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The handlers' part of the document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Bulwark sidecar API", description = "Every guard over JSON. Errors are {\"error\": {\"code\", \"message\"}}."),
    paths(scan, redact, wrap, egress_check, intents, list_approvals, get_approval, approve, reject, consume,
        audit_page, audit_verify, list_held, get_held, release_held, drop_held, settle_held, ingress, slack_interactions, discord_interactions, healthz, readyz, metrics_text, openapi),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// The document for the running configuration: what every configuration shares, built once, with
/// the configured egress profiles as the values `profile` accepts.
pub(crate) fn document(egress: &EgressGuard) -> Value {
    static DOC: LazyLock<Value> = LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
        complete(&mut doc);
        doc
    });
    let mut doc = DOC.clone();
    let mut names: Vec<Value> = egress
        .profile_names()
        .into_iter()
        .map(Value::from)
        .collect();
    names.push(Value::Null);
    doc["components"]["schemas"]["EgressRequest"]["properties"]["profile"] = json!({
        "description": "An [egress.profiles] name (default: the top-level lists).",
        "enum": names
    });
    doc
}

/// The format of approval and held-alert ids (`ApprovalId`): 32 hex digits.
const ID_PATTERN: &str = "^[0-9a-fA-F]{32}$";

/// What every authenticated route can answer besides its own statuses, and why.
const SHARED_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "invalid request: the message names the field or parameter",
    ),
    ("401", "no token, or not a valid one"),
    ("403", "the token lacks the route's scope"),
    ("414", "the request line is too long"),
    ("429", "a rate limit was reached: see Retry-After"),
    ("503", "a store or the audit log cannot be written"),
];

/// What every route with a request body can answer besides.
const BODY_ERRORS: &[(&str, &str)] = &[
    (
        "408",
        "the body did not arrive in time ([server] body_timeout_secs)",
    ),
    ("413", "the body is larger than [server] max_body_bytes"),
    ("415", "the body is not application/json"),
];

fn complete(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    if !schemas.is_object() {
        *schemas = json!({});
    }
    schemas["Error"] = json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, machine-readable"},
                "message": {"type": "string", "description": "what was wrong and what to do"}
            }
        }}
    });
    for (name, schema) in intent_schemas() {
        schemas[name] = schema;
    }
    schemas["WrapRequest"]["properties"]["datamark"] = json!({
        "description": "Datamarking: true puts the default mark between words, a one-character string puts that character, false or absent none.",
        "oneOf": [{"type": ["boolean", "null"]}, {"type": "string", "pattern": r#"^[^A-Za-z0-9<>"\s\u0000-\u001F\u007F-\u009F]$"#}]
    });
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        })
    };
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let responses = &mut op["responses"];
            // Public routes take no credential, so they answer no 401, 403 or rate limit.
            if !PUBLIC.contains(&path.as_str()) {
                for (status, why) in SHARED_ERRORS {
                    fill(responses, status, error(why));
                }
            }
            if method == "post" {
                for (status, why) in BODY_ERRORS {
                    fill(responses, status, error(why));
                }
            }
            // Error answers a handler documents by status only get the error body.
            if let Some(rs) = responses.as_object_mut() {
                for (status, r) in rs.iter_mut() {
                    if !status.starts_with('2') && r.get("content").is_none() {
                        r["content"] = error("")["content"].clone();
                    }
                }
            }
            if path.contains("{id}") {
                fill(responses, "404", error("no such approval or held alert"));
            }
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in params {
                    if p["name"] == "id" && p["in"] == "path" {
                        p["schema"] = json!({"type": "string", "pattern": ID_PATTERN});
                    }
                }
            }
            if path == "/v1/intents" || path.ends_with("/consume") {
                op["requestBody"]["content"]["application/json"]["schema"] =
                    json!({"$ref": "#/components/schemas/ExecutionIntent"});
            }
        }
    }
}

/// Adds a response for `status` unless the handler documents one.
fn fill(responses: &mut Value, status: &str, response: Value) {
    if responses.get(status).is_none() {
        responses[status] = response;
    }
}

/// `ExecutionIntent` and the types it uses, from core's JSON Schema, as component schemas.
fn intent_schemas() -> Vec<(String, Value)> {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.definitions_path = "#/components/schemas/".into();
    let mut generator = settings.into_generator();
    let root = generator.subschema_for::<bulwark_core::action::ExecutionIntent>();
    let mut out: Vec<(String, Value)> = generator.take_definitions(true).into_iter().collect();
    if !out.iter().any(|(n, _)| n == "ExecutionIntent") {
        out.push(("ExecutionIntent".into(), root.to_value()));
    }
    out
}
