//! The OpenAPI document is true to the router, and every operation is operable by a person:
//! each one appears in the dashboard's route table unless `dashboard/headless.json` lists it
//! with a reason.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, channel_names};

fn dashboard_js(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // Third-party code cannot vouch for our routes.
            if path.file_name().is_some_and(|n| n != "vendor") {
                dashboard_js(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "js") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_operation_is_documented_real_and_in_the_dashboard() {
    let channels = channel_names("parity", 1);
    let t = TestApp::start(&channels).await;
    let doc: Value = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                let short = path.strip_prefix("/api/v1").unwrap_or(path);
                operations.insert(format!("{} {short}", method.to_uppercase()));
                // Documented means routed: without a token a real route answers 401, an
                // unknown one falls through to the 404 fallback.
                let concrete = path
                    .replace("{login}", &channels[0])
                    .replace("{token_id}", "0123456789abcdef");
                let resp = t
                    .http
                    .request(method.to_uppercase().parse().unwrap(), t.url(&concrete))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    resp.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} is routed and guarded"
                );
            }
        }
    }
    assert!(operations.len() >= 22, "{operations:?}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
    let mut js = String::new();
    dashboard_js(&root, &mut js);
    let headless: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("headless.json")).unwrap())
            .unwrap();
    let mut exempt = BTreeSet::new();
    for h in &headless {
        let op = h["operation"].as_str().unwrap().to_owned();
        let reason = h["reason"].as_str().unwrap_or("");
        assert!(
            reason.len() >= 10,
            "{op}: a headless operation needs a real reason"
        );
        assert!(
            operations.contains(&op),
            "headless.json lists {op}, which the API does not have"
        );
        exempt.insert(op);
    }
    let missing: Vec<&String> = operations
        .iter()
        .filter(|op| !exempt.contains(*op) && !js.contains(&format!("\"{op}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "operations no person can reach from the dashboard (add them to its ROUTES table and UI, \
         or to dashboard/headless.json with a reason): {missing:?}"
    );
    eprintln!(
        "parity: {} operations, {} in the dashboard, {} headless",
        operations.len(),
        operations.len() - exempt.len(),
        exempt.len()
    );
    t.stop().await;
}
