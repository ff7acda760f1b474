//! The real function binaries, run by `cargo lambda watch` (Lambda's runtime API and
//! function URLs, locally), on two stacks in moto: the driver below does what Lambda's
//! event source mappings do (receive a batch from a queue, invoke the function with an
//! `SqsEvent`, delete what it did not report as failed) and what the EventBridge schedule
//! does. Two sandbox trackers send webhooks to the ingest function URLs; the nodes are
//! connected by invitation through the operator console (`twinsync-aws-console`), and the
//! transport function URLs carry replicas and acks between them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::emulator;
use twinsync_fakes::deliveries;
use twinsync_fakes::ports::{ReservedPort, reserve_port};

use serde_json::{Value, json};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use twinsync_aws::env::Resources;
use twinsync_aws::json::{JsonClient, JsonService};
use twinsync_aws::{DynamoTwinStore, SqsQueue};
use twinsync_core::ItemUpdate;
use twinsync_lambda::queues;
use twinsync_ports::{Queue, Tracker, TwinQuery, TwinStore};
use twinsync_sandbox::{SandboxConfig, SandboxTracker};

const SECRET: &str = "watch-webhook-secret";
/// Instances of each function, and batches of each queue in flight at once.
const CONCURRENCY: usize = 3;
const PROJECT_A: &str = "DEMO";
const PROJECT_B: &str = "SUPPORT";
/// The queue each consumer function reads (the SAM template's event source mappings).
const MAPPINGS: [(&str, &str); 4] = [
    (queues::OUTGOING, "twinsync-outgoing"),
    (queues::TRANSPORT, "twinsync-transport"),
    (queues::INCOMING, "twinsync-incoming"),
    (queues::ACK, "twinsync-ack"),
];

/// A child process and everything it started (cargo lambda watch runs the functions as
/// its children), stopped together.
struct Group(Child);

impl Group {
    fn spawn(cmd: &mut Command) -> Self {
        Group(cmd.process_group(0).spawn().expect("spawn"))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// What the driver saw: batches in hand and the last time anything moved.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
    invocations: AtomicU64,
    messages: AtomicU64,
    /// Messages node A's outgoing function finished (not reported as failed).
    a_outgoing_done: AtomicU64,
    failures: AtomicU64,
    /// Invocations that failed as a whole, and driver calls that failed.
    errors: AtomicU64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(now_ms(), Ordering::SeqCst);
    }
}

/// One node: its stack in moto, its functions under `cargo lambda watch`, its console
/// and its sandbox tracker.
struct Node {
    id: &'static str,
    invoke: String,
    console: String,
    /// The console's admin token, from its data dir.
    console_token: String,
    /// SQS as Lambda's event source mapping reads it: the raw messages.
    sqs: JsonClient,
    queue_urls: HashMap<&'static str, String>,
    depth: SqsQueue,
    twins: DynamoTwinStore,
    tracker: Arc<dyn Tracker>,
    sandbox_url: String,
    /// The sandbox's webhook deliveries, queued and finished.
    webhooks: Arc<deliveries::Deliveries>,
    _watch: Group,
    _console: Group,
    _sandbox: twinsync_fakes::sandbox::RunningSandbox,
    /// The watch's and the console's ports, reserved while they run.
    _ports: [ReservedPort; 2],
}

impl Node {
    fn invoke_url(&self, function: &str) -> String {
        invoke_url_of(&self.invoke, function)
    }
}

fn env_lines(
    moto: &str,
    node: &str,
    res: &Resources,
    config: &Path,
    invoke: &str,
) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", moto.to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("TWINSYNC_NODE_ID", node.into()),
        ("TWINSYNC_QUEUE_PREFIX", res.queue_prefix.clone()),
        ("TWINSYNC_TWINS_TABLE", res.twins_table.clone()),
        ("TWINSYNC_CONNECTIONS_TABLE", res.connections_table.clone()),
        (
            "TWINSYNC_PAYLOAD_BUCKET",
            res.payload_bucket.clone().unwrap_or_default(),
        ),
        ("TWINSYNC_CONFIG_FILE", config.display().to_string()),
        (
            "TWINSYNC_PUBLIC_URL",
            format!("{invoke}/lambda-url/twinsync-transport"),
        ),
        ("RUST_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn wait_for(url: &str, what: &str, timeout: Duration) {
    let http = reqwest::Client::new();
    let start = Instant::now();
    while start.elapsed() < timeout {
        if http.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not answer on {url} within {timeout:?}");
}

/// Invokes a function through the runtime API of `cargo lambda watch` and returns its
/// answer. The first invocation of each function compiles it, hence the long timeout.
async fn try_invoke(http: &reqwest::Client, url: &str, event: &Value) -> Result<Value, String> {
    let resp = http
        .post(url)
        .timeout(Duration::from_secs(900))
        .json(event)
        .send()
        .await
        .map_err(|e| format!("invoke {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!("invoke {url}: {status} {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn invoke(http: &reqwest::Client, url: &str, event: &Value) -> Value {
    try_invoke(http, url, event).await.unwrap()
}

/// The `SqsEvent` Lambda's event source mapping sends for a received batch.
fn sqs_event(messages: &[Value], arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes = m.get("Attributes").cloned().unwrap_or_else(|| json!({}));
            let message_attributes: serde_json::Map<String, Value> = m
                .get("MessageAttributes")
                .and_then(Value::as_object)
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({
                                    "stringValue": v.get("StringValue"),
                                    "dataType": v.get("DataType"),
                                    "stringListValues": [],
                                    "binaryListValues": [],
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.get("MessageId"),
                "receiptHandle": m.get("ReceiptHandle"),
                "body": m.get("Body"),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// One event source mapping: a batch at a time from `queue`, as Lambda does for a FIFO
/// queue (a group's messages stay in order; a reported failure and the rest of its
/// group come back after their visibility timeout).
async fn pump(node: Arc<Node>, queue: &'static str, function: &'static str, act: Arc<Activity>) {
    let http = reqwest::Client::new();
    let url = node.queue_urls[queue].clone();
    let arn = format!("arn:aws:sqs:us-east-1:123456789012:{queue}");
    loop {
        let input = json!({
            "QueueUrl": url,
            "MaxNumberOfMessages": 10,
            // The function's timeout, where the template has 6x: a failed invocation's
            // batch comes back within the test's patience.
            "VisibilityTimeout": 60,
            "WaitTimeSeconds": 1,
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        });
        let out: Value = match node.sqs.call("ReceiveMessage", "receive", input).await {
            Ok(out) => out,
            Err(e) => {
                eprintln!("{} {queue}: receive failed: {e:?}", node.id);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let messages: &[Value] = out
            .get("Messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let id = |m: &Value| {
            m.get("MessageId")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if messages.is_empty() {
            continue;
        }
        act.in_flight.fetch_add(1, Ordering::SeqCst);
        act.touch();
        // A failed invocation leaves the batch for its visibility timeout, as on Lambda.
        let answer = match try_invoke(
            &http,
            &node.invoke_url(function),
            &sqs_event(messages, &arn),
        )
        .await
        {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{} {function}: {e}", node.id);
                act.errors.fetch_add(1, Ordering::SeqCst);
                Value::Null
            }
        };
        act.invocations.fetch_add(1, Ordering::SeqCst);
        act.messages
            .fetch_add(messages.len() as u64, Ordering::SeqCst);
        // An answer without batchItemFailures (an error) fails the whole batch.
        let failed: Vec<String> = match answer.get("batchItemFailures") {
            Some(list) => list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
            None => {
                eprintln!("{} {function}: the invocation failed: {answer}", node.id);
                act.errors.fetch_add(1, Ordering::SeqCst);
                messages.iter().filter_map(id).collect()
            }
        };
        act.failures
            .fetch_add(failed.len() as u64, Ordering::SeqCst);
        if node.id == "node-a" && queue == queues::OUTGOING {
            act.a_outgoing_done
                .fetch_add((messages.len() - failed.len()) as u64, Ordering::SeqCst);
        }
        for m in messages {
            if failed.iter().any(|f| Some(f) == id(m).as_ref()) {
                continue;
            }
            let delete = json!({ "QueueUrl": url, "ReceiptHandle": m.get("ReceiptHandle") });
            if let Err(e) = node
                .sqs
                .call::<Value>("DeleteMessage", "delete", delete)
                .await
            {
                eprintln!("{} {queue}: delete failed: {e:?}", node.id);
                act.errors.fetch_add(1, Ordering::SeqCst);
            }
        }
        act.touch();
        act.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The EventBridge schedule: a Scheduler event for the scheduler function now and then.
async fn schedule(node: Arc<Node>, every: Duration) {
    let http = reqwest::Client::new();
    loop {
        let event = json!({
            "version": "0",
            "id": uuid_like(),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": "123456789012",
            "time": "2026-11-23T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {}
        });
        if let Err(e) = try_invoke(&http, &node.invoke_url("twinsync-scheduler"), &event).await {
            eprintln!("{} scheduler: {e}", node.id);
        }
        tokio::time::sleep(every).await;
    }
}

fn uuid_like() -> String {
    format!("{:032x}", now_ms())
}

/// Messages in the four function queues of both nodes, visible or in flight.
async fn queued(nodes: &[Arc<Node>]) -> u64 {
    let mut total = 0;
    for n in nodes {
        for (queue, _) in MAPPINGS {
            total += n.depth.depth(queue).await.unwrap().total();
        }
    }
    total
}

/// Waits until nothing is left to do: no sandbox webhook on its way, no batch in the
/// driver's hands, every function queue empty (visible, in flight or delayed: retried
/// messages wait out their backoff), and no webhook queued nor function invoked while the
/// queues were read (a message one invocation moved between two queues is not missed). A function writes
/// to a tracker (which queues the webhook) before its batch is deleted, and a webhook
/// delivery finishes only after ingest queued its change, so then no work is left.
async fn settle(nodes: &[Arc<Node>], act: &Activity, timeout: Duration) {
    let webhooks: Vec<_> = nodes.iter().map(|n| n.webhooks.clone()).collect();
    let start = Instant::now();
    while start.elapsed() < timeout {
        let before = deliveries::total(&webhooks);
        let invocations = act.invocations.load(Ordering::SeqCst);
        if before.pending() == 0
            && act.in_flight.load(Ordering::SeqCst) == 0
            && queued(nodes).await == 0
            && act.in_flight.load(Ordering::SeqCst) == 0
            && act.invocations.load(Ordering::SeqCst) == invocations
            && deliveries::total(&webhooks) == before
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut left = Vec::new();
    for n in nodes {
        for (queue, _) in MAPPINGS {
            let d = n.depth.depth(queue).await.unwrap();
            if d.total() > 0 {
                left.push(format!("{} {queue}: {d:?}", n.id));
            }
        }
    }
    panic!("the functions did not settle within {timeout:?}: {left:?}");
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    send(http.post(url).json(&body), url).await
}

/// A call to a node's console, with its admin token.
async fn console_post(http: &reqwest::Client, node: &Node, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", node.console);
    let req = http.post(&url).bearer_auth(&node.console_token).json(&body);
    send(req, &url).await
}

async fn send(req: reqwest::RequestBuilder, url: &str) -> Value {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {value}");
    value
}

/// Starts one node: its sandbox tracker, `cargo lambda watch` with the node's
/// environment, and its console (which subscribes the sandbox's webhooks to ingest).
async fn start_node(
    id: &'static str,
    project: &str,
    moto: &str,
    sdk: &twinsync_aws::env::Aws,
    dir: &Path,
) -> Node {
    let sandbox = twinsync_fakes::sandbox::spawn(
        "127.0.0.1:0",
        twinsync_fakes::sandbox::SandboxServerConfig::default(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    post(
        &http,
        &format!("{}/api/projects", sandbox.base_url),
        json!({"key": project, "name": project}),
    )
    .await;
    let res = emulator::create_stack(moto, id);
    let instance = format!("sandbox-{}", &id[id.len() - 1..]);
    // The functions read the config as JSON, as `twinsync check --json` writes it.
    let toml = format!(
        "[[node]]\nid = \"{id}\"\ndata_dir = \"unused-on-aws\"\n\n[[node.instance]]\n\
         id = \"{instance}\"\nconnector = \"sandbox\"\nbase_url = \"{}\"\n\
         webhook_secret = \"{SECRET}\"\n",
        sandbox.base_url
    );
    let config = dir.join(format!("{id}.json"));
    std::fs::write(
        &config,
        twinsync_node::config::ProcessConfig::parse_to_json(&toml, "node.toml")
            .unwrap()
            .1,
    )
    .unwrap();
    let invoke_port = reserve_port().expect("a port for cargo lambda watch");
    let port = invoke_port.port();
    let invoke_base = format!("http://127.0.0.1:{port}");
    let env = env_lines(moto, id, &res, &config, &invoke_base);
    let env_file = dir.join(format!("{id}.env"));
    std::fs::write(
        &env_file,
        env.iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join(format!("{id}-watch.log"))).unwrap();
    let watch = Group::spawn(
        Command::new("cargo")
            .current_dir(emulator::repo_root())
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "--quiet",
                // Lambda runs several instances of a function at once. One would deadlock
                // here: A's transport instance, delivering a batch to B, waits for B's
                // transport URL, whose one instance waits for A's.
                "--concurrency",
                &CONCURRENCY.to_string(),
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                "--env-file",
            ])
            .arg(&env_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    wait_for(&invoke_base, "cargo lambda watch", Duration::from_secs(120)).await;

    // Every function once, in order, before anything is timed: the first invocation of
    // each compiles it (or finds it built) and runs its cold start.
    for (_, function) in MAPPINGS {
        let url = invoke_url_of(&invoke_base, function);
        let out = invoke(&http, &url, &json!({"Records": []})).await;
        assert!(out.get("batchItemFailures").is_some(), "{function}: {out}");
    }
    let ingest = format!("{invoke_base}/lambda-url/twinsync-ingest");
    let probe = http
        .get(format!("{ingest}/webhooks/sandbox/{instance}"))
        .timeout(Duration::from_secs(900))
        .send()
        .await
        .unwrap();
    // The route takes POST only: the function URL reached the node's router.
    assert_eq!(probe.status().as_u16(), 405, "ingest function URL");

    let console_reserved = reserve_port().expect("a port for the console");
    let console_port = console_reserved.port();
    let console_log = std::fs::File::create(dir.join(format!("{id}-console.log"))).unwrap();
    let console_dir = dir.join(format!("{id}-console"));
    let console = Group::spawn(
        Command::new(env!("CARGO_BIN_EXE_twinsync-aws-console"))
            .args(["--listen", &format!("127.0.0.1:{console_port}")])
            .arg("--data-dir")
            .arg(&console_dir)
            .env_remove("TWINSYNC_ADMIN_TOKEN")
            .envs(env.iter().cloned())
            .env("TWINSYNC_INGEST_URL", &ingest)
            .stdin(Stdio::null())
            .stdout(console_log.try_clone().unwrap())
            .stderr(console_log),
    );
    let console_url = format!("http://127.0.0.1:{console_port}");
    wait_for(
        &format!("{console_url}/api/health"),
        "twinsync-aws-console",
        Duration::from_secs(60),
    )
    .await;
    // Made at the console's first start, before it answers.
    let console_token = std::fs::read_to_string(console_dir.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();

    let (depth, twins, _) = twinsync_aws::env::ports(sdk, &res);
    let sqs = JsonClient::new(sdk.signed.clone(), JsonService::Sqs, None);
    let mut queue_urls = HashMap::new();
    for (queue, _) in MAPPINGS {
        let input = json!({ "QueueName": depth.sqs_name(queue) });
        let found: Value = sqs.call("GetQueueUrl", "queue url", input).await.unwrap();
        let url = found["QueueUrl"].as_str().unwrap().to_string();
        queue_urls.insert(queue, url);
    }
    let tracker: Arc<dyn Tracker> = Arc::new(
        SandboxTracker::new(
            instance.clone(),
            SandboxConfig {
                base_url: sandbox.base_url.clone(),
                token: None,
                webhook_secret: SECRET.into(),
                project: None,
                ca_file: None,
                budget: None,
            },
        )
        .unwrap(),
    );
    Node {
        id,
        invoke: invoke_base,
        console: console_url,
        console_token,
        sqs,
        queue_urls,
        depth: depth.with_receive_wait(0),
        twins,
        tracker,
        sandbox_url: sandbox.base_url.clone(),
        webhooks: sandbox.webhooks.clone(),
        _watch: watch,
        _console: console,
        _sandbox: sandbox,
        _ports: [invoke_port, console_reserved],
    }
}

fn invoke_url_of(invoke: &str, function: &str) -> String {
    format!("{invoke}/2015-03-31/functions/{function}/invocations")
}

fn item(project: &str, i: usize, label: &str) -> Value {
    json!({
        "project": project,
        "summary": format!("Checkout fails for order #{i}"),
        "description": format!("Steps: add item {i} to the cart, pay by card."),
        "labels": [label],
    })
}

async fn create(node: &Node, body: Value) -> String {
    let http = reqwest::Client::new();
    post(&http, &format!("{}/api/items", node.sandbox_url), body).await["key"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn remote_key(node: &Node, connection: &str, key: &str) -> String {
    node.twins
        .find_by_local(connection, key)
        .await
        .unwrap()
        .and_then(|t| t.remote_key)
        .unwrap_or_else(|| panic!("{key} on {} has no linked twin", node.id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_function_binaries_sync_two_nodes_under_cargo_lambda_watch() {
    let cargo_lambda = Command::new("cargo")
        .args(["lambda", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        cargo_lambda,
        "cargo-lambda is not installed: pip install -r scripts/aws-requirements.txt \
         (scripts/test does)"
    );
    let (moto, sdk) = emulator::start_moto().await;
    // Kept when the test fails: the functions' logs are in it.
    let dir = tempfile::Builder::new()
        .prefix("twinsync-watch-")
        .tempdir()
        .unwrap()
        .keep();
    eprintln!("function logs: {}", dir.display());
    let a = Arc::new(start_node("node-a", PROJECT_A, &moto.url, &sdk, &dir).await);
    let b = Arc::new(start_node("node-b", PROJECT_B, &moto.url, &sdk, &dir).await);
    let nodes = [a.clone(), b.clone()];
    let http = reqwest::Client::new();

    // The connection, by invitation: A's console invites, B's accepts; the handshake goes
    // to A's transport function URL.
    let invited = console_post(
        &http,
        &a,
        "/api/connections/invite",
        json!({"instance": "sandbox-a", "target_project": PROJECT_A,
               "trigger": "project = DEMO AND labels = sync", "name": "watch"}),
    )
    .await;
    let connection = invited["connection"].as_str().unwrap().to_string();
    let accepted = console_post(
        &http,
        &b,
        "/api/connections/accept",
        json!({"code": invited["code"], "instance": "sandbox-b", "target_project": PROJECT_B,
               "trigger": "project = SUPPORT AND labels = escalate"}),
    )
    .await;
    assert_eq!(accepted["status"], "Active");

    let act = Arc::new(Activity::default());
    let mut tasks = Vec::new();
    for n in &nodes {
        // Like an event source mapping's concurrency: several batches of one queue at
        // once, for different FIFO groups (SQS keeps a group's messages back while one
        // of them is in flight), up to the instances `cargo lambda watch` runs.
        for (queue, function) in MAPPINGS {
            // Transport keeps an instance free for the other node's URL requests: an
            // instance delivering a batch waits for the other node's transport, which may
            // be waiting for ours (on AWS the URL scales past the mapping's concurrency).
            let batches = if queue == queues::TRANSPORT {
                CONCURRENCY - 1
            } else {
                CONCURRENCY
            };
            for _ in 0..batches {
                tasks.push(tokio::spawn(pump(n.clone(), queue, function, act.clone())));
            }
        }
        // Every minute, as the EventBridge schedule.
        tasks.push(tokio::spawn(schedule(n.clone(), Duration::from_secs(60))));
    }

    // Items both ways.
    let mut a_keys = Vec::new();
    for i in 0..8 {
        a_keys.push(create(&a, item(PROJECT_A, i, "sync")).await);
    }
    for i in 0..3 {
        create(&b, item(PROJECT_B, 100 + i, "escalate")).await;
    }
    settle(&nodes, &act, Duration::from_secs(300)).await;
    for n in &nodes {
        let twins = n
            .twins
            .list(&TwinQuery {
                connection_id: Some(connection.clone()),
                limit: 1_000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(twins.len(), 11, "a twin per item on {}", n.id);
        // No duplicates: each side holds its own items and one twin item per other item.
        let items = n.tracker.search_updated("", 0, None).await.unwrap().items;
        assert_eq!(items.len(), 11, "items on {}", n.id);
    }

    // Concurrent edits of one item on both sides.
    let b_key = remote_key(&a, &connection, &a_keys[0]).await;
    a.tracker
        .update_item(
            &a_keys[0],
            &ItemUpdate {
                summary: Some("edited on A".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    b.tracker
        .update_item(
            &b_key,
            &ItemUpdate {
                description: Some("edited on B".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    settle(&nodes, &act, Duration::from_secs(300)).await;
    for (n, key) in [(&a, &a_keys[0]), (&b, &b_key)] {
        let it = n.tracker.get_item(key).await.unwrap().unwrap();
        assert_eq!(
            (it.summary.as_str(), it.description.as_str()),
            ("edited on A", "edited on B"),
            "{}",
            n.id
        );
    }
    // The replica history is in A's twins table: sent and received.
    let twin = a
        .twins
        .find_by_local(&connection, &a_keys[0])
        .await
        .unwrap()
        .unwrap();
    let history = a.twins.replicas(&twin.id).await.unwrap();
    assert!(history.iter().any(|r| r.direction == "out"), "{history:?}");
    assert!(history.iter().any(|r| r.direction == "in"), "{history:?}");

    // Pause: every change waits in A's held queue and nothing reaches B.
    let b_keys = {
        let mut out = Vec::new();
        for k in &a_keys {
            out.push(remote_key(&a, &connection, k).await);
        }
        out
    };
    console_post(
        &http,
        &a,
        &format!("/api/connections/{connection}/deactivate"),
        json!({}),
    )
    .await;
    // 160 changes by default (8 items x 20 edits), 1,000 with `scripts/test --full`
    // (`TWINSYNC_AWS_PAUSE_CHANGES`), a round of one edit per item at a time. Outgoing reads an item fresh, so edits it has not handled yet would reach
    // it as one: each round waits until A's outgoing function has handled its changes,
    // and then every change is a replica of its own in the held queue.
    let changes: usize = std::env::var("TWINSYNC_AWS_PAUSE_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(160);
    let edits = changes.div_ceil(a_keys.len());
    for n in 1..=edits {
        let before = act.a_outgoing_done.load(Ordering::SeqCst);
        for k in &a_keys {
            a.tracker
                .update_item(
                    k,
                    &ItemUpdate {
                        summary: Some(format!("edit {n}")),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
        let start = Instant::now();
        while act.a_outgoing_done.load(Ordering::SeqCst) < before + a_keys.len() as u64
            || a.depth.depth(queues::OUTGOING).await.unwrap().total() > 0
        {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "round {n}: A's outgoing function did not handle the changes"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    settle(&nodes, &act, Duration::from_secs(1_200)).await;
    let held = a.depth.depth(&queues::held(&connection)).await.unwrap();
    let made = (edits * a_keys.len()) as u64;
    assert!(
        held.total() >= made,
        "the held queue keeps the {made} changes: {held:?}"
    );
    for bk in &b_keys {
        let it = b.tracker.get_item(bk).await.unwrap().unwrap();
        assert!(
            !it.summary.starts_with("edit "),
            "nothing reached B while paused: {}",
            it.summary
        );
    }

    // Resume: the console drains the held queue in order; every item on B ends with
    // A's last edit, and B applied A's replicas in the order A made them.
    let resumed = Instant::now();
    console_post(
        &http,
        &a,
        &format!("/api/connections/{connection}/activate"),
        json!({}),
    )
    .await;
    settle(&nodes, &act, Duration::from_secs(1_200)).await;
    let resumed_ms = resumed.elapsed().as_millis();
    for bk in &b_keys {
        let it = b.tracker.get_item(bk).await.unwrap().unwrap();
        assert_eq!(it.summary, format!("edit {edits}"));
        let twin = b
            .twins
            .find_by_local(&connection, bk)
            .await
            .unwrap()
            .unwrap();
        let applied: Vec<u64> = b
            .twins
            .replicas(&twin.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.direction == "in")
            .map(|r| r.version)
            .collect();
        assert!(applied.windows(2).all(|w| w[0] < w[1]), "{applied:?}");
    }
    assert_eq!(
        a.depth
            .depth(&queues::held(&connection))
            .await
            .unwrap()
            .total(),
        0
    );
    // Nothing was dead-lettered on either side.
    for n in &nodes {
        for (queue, _) in MAPPINGS {
            let dlq = n.depth.depth(&queues::dlq(queue)).await.unwrap();
            assert_eq!(dlq.total(), 0, "{} {queue}", n.id);
        }
    }
    assert_eq!(act.errors.load(Ordering::SeqCst), 0, "no invocation failed");
    println!(
        "functions under cargo lambda watch: {held:?} held for {made} changes, resumed in {} ms; \
         {} invocations, {} messages, {} reported failures",
        resumed_ms,
        act.invocations.load(Ordering::SeqCst),
        act.messages.load(Ordering::SeqCst),
        act.failures.load(Ordering::SeqCst)
    );
    for t in tasks {
        t.abort();
    }
    for n in &nodes {
        emitted_metrics(&dir.join(format!("{}-watch.log", n.id)));
    }
    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The functions wrote their metrics to stdout in CloudWatch's embedded metric format:
/// one `ColdStart` per process, and after each invocation what its handlers recorded,
/// with the invocation's request id.
fn emitted_metrics(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap();
    let documents: Vec<Value> = text
        .lines()
        .filter(|l| l.contains("\"CloudWatchMetrics\""))
        .filter_map(|l| serde_json::from_str(&l[l.find('{')?..]).ok())
        .collect();
    let named = |metric: &str| {
        documents
            .iter()
            .filter(|d| d.get(metric).is_some())
            .collect::<Vec<_>>()
    };
    assert!(
        !named("ColdStart").is_empty(),
        "no ColdStart in {}",
        log.display()
    );
    let processed = named("ChangesProcessed");
    assert!(
        !processed.is_empty(),
        "no ChangesProcessed in {}",
        log.display()
    );
    for d in processed {
        let request = d["RequestId"].as_str().unwrap_or_default();
        assert!(!request.is_empty(), "no request id: {d}");
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"], "twinsync",
            "{d}"
        );
    }
}
