//! SAMS token introspection against a local RFC 7662 server on 127.0.0.1: statuses, the request
//! shape, scope matching and the short cache.

use axum::routing::post;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use telemetry_gateway::auth::sams::{SamsAuthenticator, SamsConfig, scope_matches};
use tonic::Code;
use tonic::metadata::MetadataMap;

async fn introspection_server() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/oauth/introspect",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    headers.get("authorization").and_then(|v| v.to_str().ok()),
                    Some("Basic Y2xpZW50OnNlY3JldA==") // client:secret
                );
                let token = body.strip_prefix("token=").unwrap_or("");
                let json = match token {
                    "good" => r#"{"active":true,"scope":"a::b::c telemetry_gateway::events::write","client_id":"svc"}"#,
                    "inactive" => r#"{"active":false}"#,
                    "noscope" => r#"{"active":true,"scope":"telemetry_gateway::events::read"}"#,
                    _ => return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new()),
                };
                (axum::http::StatusCode::OK, json.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/"), calls)
}

fn auth(ttl: Duration, url: &str) -> SamsAuthenticator {
    SamsAuthenticator::new(SamsConfig::new(url, "client", "secret", ttl)).expect("authenticator")
}

fn bearer(token: &str) -> MetadataMap {
    let mut md = MetadataMap::new();
    md.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    md
}

#[tokio::test]
async fn statuses_and_cache() {
    let (url, calls) = introspection_server().await;
    let a = auth(Duration::from_secs(30), &url);
    assert_eq!(a.introspection_url(), format!("{}oauth/introspect", url));
    a.check_write_events_scope(&bearer("good"))
        .await
        .expect("ok");
    a.check_write_events_scope(&bearer("good"))
        .await
        .expect("ok");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "second check is served from the cache"
    );

    let code = |r: Result<(), tonic::Status>| r.expect_err("refused").code();
    assert_eq!(
        code(a.check_write_events_scope(&bearer("inactive")).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(a.check_write_events_scope(&bearer("noscope")).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(a.check_write_events_scope(&bearer("boom")).await),
        Code::Internal
    );
    assert_eq!(
        code(a.check_write_events_scope(&MetadataMap::new()).await),
        Code::Unauthenticated
    );

    let uncached = auth(Duration::ZERO, &url);
    let before = calls.load(Ordering::SeqCst);
    uncached
        .check_write_events_scope(&bearer("good"))
        .await
        .expect("ok");
    uncached
        .check_write_events_scope(&bearer("good"))
        .await
        .expect("ok");
    assert_eq!(calls.load(Ordering::SeqCst), before + 2);
}

#[test]
fn scope_rules() {
    let req = "telemetry_gateway::events::write";
    assert!(scope_matches(req, req));
    assert!(scope_matches(
        "telemetry_gateway::events::write",
        "telemetry_gateway::events.sub::write"
    ));
    assert!(!scope_matches("telemetry_gateway::events.sub::write", req));
    assert!(!scope_matches("telemetry_gateway::event::write", req));
    assert!(!scope_matches("telemetry_gateway::events::read", req));
    assert!(!scope_matches("other::events::write", req));
    assert!(!scope_matches("telemetry_gateway::events", req));
    assert!(!scope_matches("telemetry_gateway::::write", req));
}
