//! The admin API apart and authenticated: on its own loopback listener, behind a token
//! kept 0600 in the data dir, with the Host and Origin checked and state changed only by
//! JSON calls; the public listener has none of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use twinsync_cli::demo;
use twinsync_core::ConnectionStatus;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::admin::AdminToken;

const SECRET: &str = "admin-test-secret";

/// Which listener a case goes to.
#[derive(Clone, Copy, Debug)]
enum Listener {
    Public,
    Admin,
}

/// The token a case sends.
#[derive(Clone, Copy, Debug)]
enum Token {
    Good,
    Wrong,
    Basic,
    None,
}

struct Case {
    listener: Listener,
    method: Method,
    path: String,
    token: Token,
    headers: Vec<(&'static str, String)>,
    /// A body and its content type.
    body: Option<(&'static str, &'static str)>,
    status: u16,
}

fn case(listener: Listener, method: Method, path: &str, token: Token, status: u16) -> Case {
    Case {
        listener,
        method,
        path: path.to_string(),
        token,
        headers: vec![],
        body: None,
        status,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: String) -> Case {
        self.headers.push((name, value));
        self
    }

    fn body(mut self, content_type: &'static str, body: &'static str) -> Case {
        self.body = Some((content_type, body));
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_answers_only_its_own_listener_token_origin_and_json() {
    use Listener::{Admin, Public};
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&demo::config(SECRET), dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let public = p.node_urls["node-a"].clone();
    let admin = p.admin["node-a"].clone();
    let token = admin.token.expose().to_string();
    let host = admin.url.trim_start_matches("http://").to_string();
    let port = host.rsplit(':').next().unwrap().to_string();
    let conn = format!("/api/connections/{}", demo::CONNECTION);
    let (get, post, delete) = (Method::GET, Method::POST, Method::DELETE);
    let cases = vec![
        // The public listener serves webhooks, /v1/* and health; the admin API is not there.
        case(Public, get.clone(), "/health", Token::None, 200),
        case(Public, get.clone(), "/api/health", Token::Good, 404),
        case(Public, get.clone(), "/api/connections", Token::Good, 404),
        case(
            Public,
            post.clone(),
            "/api/connections/invite",
            Token::Good,
            404,
        )
        .body(
            "application/json",
            r#"{"instance":"sandbox-a","target_project":"DEMO"}"#,
        ),
        case(Public, get.clone(), "/monitor", Token::None, 404),
        case(Public, get.clone(), "/api/monitor", Token::Good, 404),
        // The admin listener: the token, exactly, as a bearer.
        case(Admin, get.clone(), "/api/connections", Token::None, 401),
        case(Admin, get.clone(), "/api/connections", Token::Wrong, 401),
        case(Admin, get.clone(), "/api/connections", Token::Basic, 401),
        case(Admin, get.clone(), "/api/health", Token::None, 401),
        case(Admin, get.clone(), "/api/monitor", Token::None, 401),
        case(
            Admin,
            post.clone(),
            &format!("{conn}/deactivate"),
            Token::Wrong,
            401,
        )
        .body("application/json", "{}"),
        case(Admin, get.clone(), "/api/connections", Token::Good, 200),
        case(Admin, get.clone(), "/api/monitor", Token::Good, 200),
        // Host and Origin: the listener's own, or 403 (token or not).
        case(Admin, get.clone(), "/api/connections", Token::Good, 403)
            .header("origin", "http://evil.example".into()),
        case(Admin, get.clone(), "/api/connections", Token::Good, 403)
            .header("origin", "null".into()),
        case(Admin, get.clone(), "/api/connections", Token::Good, 403)
            .header("origin", format!("http://127.0.0.1:{port}.evil.example")),
        case(Admin, get.clone(), "/api/connections", Token::Good, 200)
            .header("origin", admin.url.clone()),
        case(Admin, get.clone(), "/api/connections", Token::Good, 403)
            .header("host", format!("evil.example:{port}")),
        case(Admin, get.clone(), "/api/connections", Token::Good, 200)
            .header("host", format!("localhost:{port}")),
        case(Admin, get.clone(), "/monitor", Token::None, 403)
            .header("host", format!("rebound.example:{port}")),
        case(
            Admin,
            post.clone(),
            &format!("{conn}/deactivate"),
            Token::Good,
            403,
        )
        .header("origin", "https://evil.example".into())
        .body("application/json", "{}"),
        // State changes only by JSON: a form or text/plain (what a page can send across
        // sites without asking) is 415.
        case(
            Admin,
            post.clone(),
            &format!("{conn}/deactivate"),
            Token::Good,
            415,
        )
        .body("text/plain", "{}"),
        case(
            Admin,
            post.clone(),
            &format!("{conn}/deactivate"),
            Token::Good,
            415,
        )
        .body("application/x-www-form-urlencoded", "a=b"),
        case(
            Admin,
            post.clone(),
            &format!("{conn}/deactivate"),
            Token::Good,
            415,
        )
        .body("multipart/form-data; boundary=x", "--x--"),
        case(
            Admin,
            post.clone(),
            &format!("{conn}/deactivate"),
            Token::Good,
            415,
        ),
        case(
            Admin,
            post.clone(),
            &format!("{conn}/rotate-secret"),
            Token::Good,
            415,
        )
        .body("text/plain", "{}"),
        case(
            Admin,
            post.clone(),
            &format!("{conn}/operations/clean-up"),
            Token::Good,
            415,
        )
        .body("application/x-www-form-urlencoded", ""),
        case(
            Admin,
            post.clone(),
            "/api/connections/invite",
            Token::Good,
            415,
        )
        .body(
            "text/plain",
            r#"{"instance":"sandbox-a","target_project":"DEMO"}"#,
        ),
        case(Admin, delete.clone(), &conn, Token::Good, 415)
            .body("text/plain", r#"{"confirm":"demo"}"#),
        // The monitor's static page needs no token: it holds no data.
        case(Admin, get.clone(), "/monitor", Token::None, 200),
        case(Admin, get.clone(), "/monitor/app.js", Token::None, 200),
    ];
    let http = reqwest::Client::new();
    let mut wrong = Vec::new();
    for c in cases {
        let base = match c.listener {
            Listener::Public => &public,
            Listener::Admin => &admin.url,
        };
        let mut req = http.request(c.method.clone(), format!("{base}{}", c.path));
        req = match c.token {
            Token::Good => req.bearer_auth(&token),
            Token::Wrong => req.bearer_auth("f".repeat(64)),
            Token::Basic => req.header("authorization", format!("Basic {token}")),
            Token::None => req,
        };
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        if let Some((content_type, body)) = c.body {
            req = req.header("content-type", content_type).body(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let what = format!(
            "{:?} {} {} {:?} {:?}",
            c.listener, c.method, c.path, c.token, c.headers
        );
        let error_json = serde_json::from_str::<Value>(&text).is_ok_and(|b| b["error"].is_string());
        if status != c.status || (matches!(status, 401 | 403 | 415) && !error_json) {
            let text: String = text.chars().take(160).collect();
            wrong.push(format!("{what}: {status}, expected {}: {text}", c.status));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing a refused call asked for happened.
    let node = p.node("node-a").unwrap().clone();
    let active = |s| s == ConnectionStatus::Active;
    assert!(active(
        node.connection(demo::CONNECTION).await.unwrap().status
    ));

    // The same calls as JSON with the token work; a bodyless one takes `{}`.
    let call = |method: Method, path: String, body: Value| {
        http.request(method, format!("{}{path}", admin.url))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let resp = call(post.clone(), format!("{conn}/deactivate"), json!({}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let status = node.connection(demo::CONNECTION).await.unwrap().status;
    assert_eq!(status, ConnectionStatus::Deactivated);
    let resp = call(post.clone(), format!("{conn}/activate"), json!({"x": 1}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422, "unknown arguments are refused");
    let resp = call(post, format!("{conn}/activate"), json!({}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(active(
        node.connection(demo::CONNECTION).await.unwrap().status
    ));

    // The monitor page allows only its own script, and its script sends the token.
    let page = http
        .get(format!("{}/monitor", admin.url))
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(page.text().await.unwrap().contains("/monitor/app.js"));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_is_private_and_kept_across_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo::config(SECRET);
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let data_dir = dir.path().join("node-a");
    let file = data_dir.join("admin-token");
    let first = p.admin["node-a"].clone();
    assert_eq!(first.token_file.as_deref(), Some(file.as_path()));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert_eq!(stored.trim(), first.token.expose());
    assert_eq!(stored.trim().len(), 64, "32 random bytes, hex");
    let url = std::fs::read_to_string(data_dir.join("admin-url")).unwrap();
    assert_eq!(url.trim(), first.url);
    let other = p.admin["node-b"].token.expose().to_string();
    assert_ne!(other, first.token.expose(), "each node has its own");
    p.stop().await;

    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    assert_eq!(p.admin["node-a"].token.expose(), first.token.expose());
    p.stop().await;

    // A token given to the process wins and is not written anywhere.
    let given = AdminToken::parse(&"g".repeat(48)).unwrap();
    let options = ProcessOptions {
        admin_token: Some(given.clone()),
        ..ProcessOptions::default()
    };
    let p = Process::start(&config, dir.path(), options).await.unwrap();
    let endpoint = &p.admin["node-a"];
    assert_eq!(
        (endpoint.token.expose(), endpoint.token_file.is_none()),
        (given.expose(), true)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stored);
    p.stop().await;

    // A token file others can read is not trusted.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_stays_on_loopback_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = demo::config(SECRET);
    config.node[0].admin_listen = "0.0.0.0:0".into();
    let e = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("node-a") && e.contains("not a loopback address"),
        "{e}"
    );
    assert!(e.contains("admin_allow_remote = true"), "{e}");

    // Allowed: it listens, is reached on loopback, and still wants the token.
    config.node[0].admin_allow_remote = true;
    let p = Process::start(&config, dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let admin = p.admin["node-a"].clone();
    assert!(admin.url.starts_with("http://127.0.0.1:"), "{}", admin.url);
    let http = reqwest::Client::new();
    let url = format!("{}/api/connections", admin.url);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http
        .get(&url)
        .bearer_auth(admin.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    p.stop().await;
}
