//! `twinsync demo --pair redmine-sandbox`: the demo scenario between the sandbox and a real
//! Redmine. Redmine is not started here (it needs root and a few minutes the first time):
//! `scripts/redmine-up` starts it and prints the variables this reads.

use super::common::{
    CONNECTION, DemoArgs, DemoReport, PEOPLE, PROJECT_A, create_item, for_each_limited, full,
    item_body, twin_key,
};
use super::runner::{self, Outcome, Runner};
use backon::{ExponentialBuilder, Retryable};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use twinsync_core::{ConnectorKind, Item, ItemUpdate, NodeHelperMaps, User};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_polled;
use twinsync_node::config::{
    ConnectionSection, InstanceSection, NodeSection, ProcessConfig, ProjectSection, SandboxSection,
    TriggerSection,
};

mod env;

pub use env::{RedmineEnv, send_again_after_busy};

fn config(rm: &RedmineEnv, project: &str) -> ProcessConfig {
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let connection =
        |instance: &str, remote: &str, target: &str, maps, trigger: &str| ConnectionSection {
            id: CONNECTION.into(),
            name: "Demo: sandbox <-> Redmine".into(),
            instance: instance.into(),
            remote_node: remote.into(),
            target_project: target.into(),
            helper_maps: Some(maps),
            trigger: vec![TriggerSection {
                id: None,
                query: trigger.into(),
            }],
            ..Default::default()
        };
    let instance = |id: &str, connector: ConnectorKind, base_url: &str| InstanceSection {
        id: id.into(),
        connector,
        base_url: base_url.into(),
        webhook_secret: if connector == ConnectorKind::Sandbox {
            uuid::Uuid::new_v4().to_string()
        } else {
            String::new()
        },
        token: (connector == ConnectorKind::Redmine).then(|| rm.key.clone()),
        origin_field_id: (connector == ConnectorKind::Redmine).then_some(rm.origin_field),
        status_field_id: rm
            .status_field
            .filter(|_| connector == ConnectorKind::Redmine),
        twin_field_id: rm
            .twin_field
            .filter(|_| connector == ConnectorKind::Redmine),
        project: (connector == ConnectorKind::Redmine).then(|| project.to_string()),
        // Redmine sends no webhooks: its triggers are polled.
        register_webhook: connector == ConnectorKind::Sandbox,
        ..Default::default()
    };
    ProcessConfig {
        sandbox: vec![SandboxSection {
            id: "a".into(),
            listen: "127.0.0.1:0".into(),
            db: Some("sandbox-a.db".into()),
            token: None,
            projects: vec![ProjectSection {
                key: PROJECT_A.into(),
                name: "Demo".into(),
                statuses: None,
                priorities: None,
            }],
            budget: None,
        }],
        node: vec![
            NodeSection {
                id: "node-a".into(),
                data_dir: "node-a".into(),
                listen: "127.0.0.1:0".into(),
                admin_listen: "127.0.0.1:0".into(),
                poll_interval_ms: 5_000,
                instance: vec![instance("sandbox-a", ConnectorKind::Sandbox, "sandbox:a")],
                connection: vec![connection(
                    "sandbox-a",
                    "node-r",
                    PROJECT_A,
                    // Redmine's names in the sandbox's words; Redmine's default rules map
                    // the other way by meaning.
                    NodeHelperMaps {
                        statuses: pairs(&[
                            ("New", "Open"),
                            ("Feedback", "Open"),
                            ("Resolved", "Done"),
                            ("Closed", "Done"),
                            ("Rejected", "Done"),
                        ]),
                        priorities: pairs(&[
                            ("Normal", "Medium"),
                            ("Urgent", "Highest"),
                            ("Immediate", "Highest"),
                        ]),
                        ..NodeHelperMaps::default()
                    },
                    "project = DEMO AND labels = sync",
                )],
                ..Default::default()
            },
            NodeSection {
                id: "node-r".into(),
                data_dir: "node-r".into(),
                listen: "127.0.0.1:0".into(),
                admin_listen: "127.0.0.1:0".into(),
                poll_interval_ms: 1_000,
                instance: vec![instance("redmine", ConnectorKind::Redmine, &rm.url)],
                connection: vec![connection(
                    "redmine",
                    "node-a",
                    project,
                    NodeHelperMaps::default(),
                    "summary ~ \"[sync]\"",
                )],
                ..Default::default()
            },
        ],
    }
}

/// Sandbox status for a Redmine status, as the connection's maps say.
fn sandbox_status(redmine: &str) -> &str {
    match redmine {
        "New" | "Feedback" => "Open",
        "Resolved" | "Closed" | "Rejected" => "Done",
        other => other,
    }
}

pub async fn scenario(args: &DemoArgs) -> Result<DemoReport, String> {
    let rm = RedmineEnv::from_env()?;
    let started = Instant::now();
    let project = format!(
        "demo{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let resp = send_again_after_busy(
        rm.req(reqwest::Method::POST, "/projects.json")
            .json(&json!({"project": {"name": project, "identifier": project, "is_public": true, "tracker_ids": [1, 2, 3]}})),
    )
    .await
    .map_err(|e| format!("{e} (at {})", rm.url))?;
    if resp.status().as_u16() != 201 {
        return Err(format!(
            "Redmine refused to create project {project}: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        ));
    }
    // The demo's people who have a Redmine account may be assigned issues of the project.
    for (email, _) in PEOPLE {
        let found: Value = match send_again_after_busy(
            rm.req(reqwest::Method::GET, &format!("/users.json?name={email}")),
        )
        .await
        {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
            _ => continue,
        };
        if let Some(id) = found["users"][0]["id"].as_u64() {
            let _ = send_again_after_busy(
                rm.req(
                    reqwest::Method::POST,
                    &format!("/projects/{project}/memberships.json"),
                )
                .json(&json!({"membership": {"user_id": id, "role_ids": [4]}})),
            )
            .await;
        }
    }
    let (process, _dir) =
        runner::start(args, &config(&rm, &project), ProcessOptions::default()).await?;
    let result = steps(&process, &rm, &project, args, Runner::new(started)).await;
    process.stop().await;
    result
}

/// Waits until `node` has polled the Redmine issue `key` as it is now, then until nothing
/// is left to do: Redmine sends no webhooks.
async fn polled_and_quiet(
    process: &Process,
    node: &twinsync_node::Node,
    redmine: &dyn twinsync_ports::Tracker,
    key: &str,
    timeout: Duration,
) -> bool {
    // A Redmine on SQLite answers "database is locked" (a 500) now and then while the
    // nodes write to it; the read is tried again, as the connector's own reads are.
    let read = || async { redmine.get_item(key).await };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_times(6);
    let item = read
        .retry(backoff)
        .when(twinsync_ports::PortError::is_retryable)
        .await;
    let polled = match item {
        Ok(Some(item)) => wait_polled(node, CONNECTION, item.updated_ms, timeout).await,
        Ok(None) => false,
        Err(e) => {
            eprintln!("demo: cannot read Redmine issue {key} to wait for its poll: {e}");
            false
        }
    };
    polled && process.wait_quiet(timeout).await
}

/// How many issues of the project carry each origin marker (empty: none).
async fn count_by_origin(rm: &RedmineEnv, project: &str) -> Result<HashMap<String, usize>, String> {
    let mut origins = HashMap::<String, usize>::new();
    let mut offset = 0usize;
    loop {
        let page: Value = send_again_after_busy(rm.req(
            reqwest::Method::GET,
            &format!("/issues.json?project_id={project}&status_id=*&limit=100&offset={offset}"),
        ))
        .await?
        .json()
        .await
        .map_err(|e| e.to_string())?;
        let issues = page["issues"].as_array().cloned().unwrap_or_default();
        for i in &issues {
            let origin = i["custom_fields"]
                .as_array()
                .and_then(|f| f.iter().find(|c| c["id"] == rm.origin_field))
                .and_then(|c| c["value"].as_str())
                .unwrap_or("")
                .to_string();
            *origins.entry(origin).or_default() += 1;
        }
        offset += issues.len();
        if issues.is_empty() || offset as u64 >= page["total_count"].as_u64().unwrap_or(0) {
            return Ok(origins);
        }
    }
}

/// A sandbox item and its Redmine twin agree under the connection's maps.
fn compare(x: &Item, y: &Item, mismatches: &mut Vec<String>) {
    let pair = format!("{}/#{}", x.key, y.key);
    if x.summary != y.summary {
        mismatches.push(format!(
            "{pair}: summary {:?} vs {:?}",
            x.summary, y.summary
        ));
    }
    if x.description != y.description {
        mismatches.push(format!("{pair}: description differs"));
    }
    if x.status_name() != y.status_name().map(sandbox_status) {
        mismatches.push(format!(
            "{pair}: status {:?} vs {:?}",
            x.status_name(),
            y.status_name()
        ));
    }
    if x.comments.len() != y.comments.len() {
        mismatches.push(format!(
            "{pair}: {} comments vs {}",
            x.comments.len(),
            y.comments.len()
        ));
    }
}

async fn steps(
    process: &Process,
    rm: &RedmineEnv,
    project: &str,
    args: &DemoArgs,
    mut run: Runner,
) -> Result<DemoReport, String> {
    let node_a = process.node("node-a").ok_or("node-a missing")?.clone();
    let node_r = process.node("node-r").ok_or("node-r missing")?.clone();
    let a = node_a.tracker("sandbox-a").map_err(|e| e.to_string())?;
    let r = node_r.tracker("redmine").map_err(|e| e.to_string())?;
    let url_a = process
        .sandbox_urls
        .get("a")
        .ok_or("sandbox a missing")?
        .clone();
    let http = reqwest::Client::new();
    let timeout = Duration::from_secs(120 + (args.items as u64) / 4);
    let n = args.items.max(2);

    // 1. Items in the sandbox, each with a comment, reach Redmine.
    let keys = for_each_limited(n, 4, |i| {
        let http = http.clone();
        let url = url_a.clone();
        let a = a.clone();
        async move {
            let mut body = item_body(PROJECT_A, i, "sync");
            body["status"] = json!("Open");
            let key = create_item(&http, &url, body).await?;
            let (email, name) = PEOPLE[i % 3];
            let author = User {
                email: email.into(),
                display_name: name.into(),
            };
            a.add_comment(
                &key,
                &format!("Customer **Acme** is affected (#{i})."),
                Some(&author),
                None,
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(key)
        }
    })
    .await?;
    run.settle(process.wait_quiet(timeout)).await;
    run.record(
        "create and sync",
        format!("{n} items with a comment created in the sandbox"),
    );

    // 2. An edit in Redmine (status and a note) flows back.
    let r0 = twin_key(&node_a, &keys[0]).await?;
    let resp = send_again_after_busy(
        rm.req(reqwest::Method::PUT, &format!("/issues/{r0}.json"))
            .json(&json!({"issue": {"status_id": 2, "notes": "Reproduced; fix in review."}})),
    )
    .await?;
    if !resp.status().is_success() {
        return Err(format!("editing Redmine issue {r0}: {}", resp.status()));
    }
    run.settle(polled_and_quiet(process, &node_r, r.as_ref(), &r0, timeout))
        .await;
    let a0 = full(a.as_ref(), &keys[0]).await?;
    run.record(
        "edit in Redmine",
        format!(
            "#{r0}: status In Progress + a note -> {} is {:?} with {} comments",
            keys[0],
            a0.status_name().unwrap_or("-"),
            a0.comments.len(),
        ),
    );

    // 3. Both sides edit the same item at once: different fields merge.
    let r1 = twin_key(&node_a, &keys[1]).await?;
    let summary = ItemUpdate {
        summary: Some("Checkout fails for order #1 (card payments only)".into()),
        ..Default::default()
    };
    let (ra, rr) = tokio::join!(
        a.update_item(&keys[1], &summary),
        send_again_after_busy(
            rm.req(reqwest::Method::PUT, &format!("/issues/{r1}.json"))
                .json(&json!({"issue": {"priority_id": 4}}))
        ),
    );
    ra.map_err(|e| e.to_string())?;
    let rr = rr?;
    if !rr.status().is_success() {
        return Err(format!("editing Redmine issue {r1}: {}", rr.status()));
    }
    run.settle(polled_and_quiet(process, &node_r, r.as_ref(), &r1, timeout))
        .await;
    let (m1a, m1r) = (
        full(a.as_ref(), &keys[1]).await?,
        full(r.as_ref(), &r1).await?,
    );
    run.record(
        "concurrent edit, two fields",
        format!(
            "the sandbox changed the summary while Redmine changed the priority -> sandbox {:?}/{:?}, Redmine {:?}/{:?}",
            m1a.summary,
            m1a.priority_name().unwrap_or("-"),
            m1r.summary,
            m1r.priority_name().unwrap_or("-"),
        ),
    );

    // 4. Compare every pair; count Redmine issues per origin marker.
    let mut mismatches = Vec::new();
    let mut comments_synced = 0;
    for key in &keys {
        let rk = match twin_key(&node_a, key).await {
            Ok(k) => k,
            Err(e) => {
                mismatches.push(e);
                continue;
            }
        };
        let (x, y) = (full(a.as_ref(), key).await?, full(r.as_ref(), &rk).await?);
        compare(&x, &y, &mut mismatches);
        comments_synced += y.comments.len().min(x.comments.len());
    }
    let origins = count_by_origin(rm, project).await?;
    let duplicates: usize = origins.values().map(|c| c.saturating_sub(1)).sum();
    let redmine_issues = origins.values().sum::<usize>();
    run.record(
        "compare",
        format!(
            "{} pairs compared field by field: {} mismatches; {redmine_issues} Redmine issues, {duplicates} duplicates",
            keys.len(),
            mismatches.len(),
        ),
    );
    Ok(run.report(Outcome {
        items: n,
        items_a_to_b: redmine_issues,
        comments_synced,
        duplicates,
        mismatches,
        ..Outcome::default()
    }))
}
