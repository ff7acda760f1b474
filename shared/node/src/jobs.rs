//! Bulk jobs on the node: started by the API or the CLI, stored in the connection store's
//! meta records (`job:{id}`, and the list in `jobs`), and worked through by the
//! scheduler a page at a time ([`run_pages`]) while the tracker's budget and the
//! outgoing queue allow. A crash resumes at the stored cursor; a page done again queues
//! changes whose ids its first run already used, which the queue drops.

use crate::bulk::signal_for;
use crate::handlers::ingest::queue_changes;
use crate::operations::RelinkTarget;
use crate::{Node, NodeError, NodeResult, operations};
use twinsync_core::matching::value_of;
use twinsync_core::{
    Connection, Item, Job, JobCursor, JobKind, JobPage, JobStatus, SyncEventKind, TwinStatus,
};
use twinsync_ports::{PortError, TwinQuery, queues};

/// Items a page takes (a tracker page may bring more in one search).
pub const PAGE: usize = 50;

const LIST_KEY: &str = "jobs";

fn key(id: &str) -> String {
    format!("job:{id}")
}

/// Starts a job on a connection; the scheduler runs it from its next tick.
pub async fn start(node: &Node, connection_id: &str, kind: JobKind) -> NodeResult<Job> {
    let connection = node.connection(connection_id).await?;
    if let JobKind::ConnectByField { field } = &kind {
        twinsync_core::matching::check_field(field).map_err(NodeError::Operation)?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    let mut job = Job::new(id.clone(), connection.id.clone(), kind, node.now_ms());
    if job.kind == JobKind::Sync {
        job.total = Some(node.twins.count(Some(&connection.id)).await?);
    }
    save(node, &job).await?;
    add_to_list(node, &id).await?;
    node.event(
        connection_id,
        None,
        SyncEventKind::Operation,
        format!("{} job {} started", job.kind.as_str(), job.id),
    )
    .await;
    Ok(job)
}

/// Adds a job to the list of jobs, one meta record that every API process may change at
/// once (several Lambda instances): a conditional write, read again when another won.
async fn add_to_list(node: &Node, id: &str) -> NodeResult<()> {
    for _ in 0..20 {
        let current = node.connections.get_meta(LIST_KEY).await?;
        let mut ids: Vec<String> = current
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        ids.push(id.to_string());
        let text = serde_json::to_string(&ids).map_err(|e| NodeError::BadMessage(e.to_string()))?;
        if node
            .connections
            .replace_meta(LIST_KEY, current.as_deref(), &text)
            .await?
        {
            return Ok(());
        }
    }
    Err(PortError::Conflict("the list of jobs is changing too often".into()).into())
}

async fn list_ids(node: &Node) -> NodeResult<Vec<String>> {
    Ok(match node.connections.get_meta(LIST_KEY).await? {
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => Vec::new(),
    })
}

async fn save(node: &Node, job: &Job) -> NodeResult<()> {
    let text = serde_json::to_string(job).map_err(|e| NodeError::BadMessage(e.to_string()))?;
    node.connections.set_meta(&key(&job.id), &text).await?;
    Ok(())
}

pub async fn get(node: &Node, id: &str) -> NodeResult<Job> {
    let text = node
        .connections
        .get_meta(&key(id))
        .await?
        .ok_or_else(|| PortError::NotFound(format!("no job {id}")))?;
    serde_json::from_str(&text).map_err(|e| NodeError::BadMessage(format!("job {id}: {e}")))
}

/// The jobs, newest first; of one connection when named.
pub async fn list(node: &Node, connection_id: Option<&str>) -> NodeResult<Vec<Job>> {
    let mut jobs = Vec::new();
    for id in list_ids(node).await?.iter().rev() {
        match get(node, id).await {
            Ok(job) if connection_id.is_none_or(|c| c == job.connection_id) => jobs.push(job),
            Ok(_) => {}
            Err(e) => tracing::warn!(job = %id, error = %e, "job record unreadable"),
        }
    }
    Ok(jobs)
}

pub async fn cancel(node: &Node, id: &str) -> NodeResult<Job> {
    let mut job = get(node, id).await?;
    job.cancel(node.now_ms())
        .map_err(|e| NodeError::Operation(e.to_string()))?;
    save(node, &job).await?;
    node.event(
        &job.connection_id,
        None,
        SyncEventKind::Operation,
        format!(
            "{} job {} cancelled at {}",
            job.kind.as_str(),
            job.id,
            job.done
        ),
    )
    .await;
    Ok(job)
}

/// Runs pages of the running jobs for about `budget_ms`, while the trackers are not
/// throttled and the outgoing queue holds no more than `job_max_waiting_changes`;
/// returns the items done.
pub async fn run_pages(node: &Node, budget_ms: i64) -> NodeResult<u64> {
    let until = node.now_ms() + budget_ms;
    let mut done = 0;
    for job in list(node, None).await? {
        if job.status != JobStatus::Running {
            continue;
        }
        let mut job = job;
        while node.now_ms() < until && job.status == JobStatus::Running {
            if node.queue.depth(queues::OUTGOING).await?.visible
                > node.settings.job_max_waiting_changes
            {
                return Ok(done);
            }
            let connection = node.connection(&job.connection_id).await?;
            if node.tracker(&connection.local_instance)?.throttled_ms() > 0 {
                break;
            }
            let page = page(node, &job, &connection).await?;
            done += page.done;
            // A cancel that came in during the page wins.
            if get(node, &job.id).await?.status == JobStatus::Cancelled {
                break;
            }
            job.record(page, node.now_ms());
            save(node, &job).await?;
            if job.status == JobStatus::Done {
                let detail = format!(
                    "{} job {} done: {} items, {} failed",
                    job.kind.as_str(),
                    job.id,
                    job.done,
                    job.failed
                );
                node.event(&job.connection_id, None, SyncEventKind::Operation, detail)
                    .await;
            }
        }
    }
    Ok(done)
}

/// One page of `job` from its cursor.
async fn page(node: &Node, job: &Job, connection: &Connection) -> NodeResult<JobPage> {
    let cursor = &job.cursor;
    let tag = format!("job:{}", job.id);
    match &job.kind {
        JobKind::Exalate => {
            let (items, next) = trigger_page(node, connection, cursor).await?;
            let signals: Vec<_> = items
                .iter()
                .map(|i| signal_for(&i.key, i.version, &tag))
                .collect();
            queue_changes(node, connection, &signals, true).await?;
            Ok(JobPage {
                done: signals.len() as u64,
                errors: Vec::new(),
                next,
            })
        }
        JobKind::ConnectByField { field } => {
            let (items, next) = trigger_page(node, connection, cursor).await?;
            let mut errors = Vec::new();
            for item in &items {
                if let Err(why) = connect_by_field(node, connection, item, field).await {
                    errors.push(format!("{}: {why}", item.key));
                }
            }
            Ok(JobPage {
                done: items.len() as u64,
                errors,
                next,
            })
        }
        JobKind::Sync => {
            let twins = node
                .twins
                .list(&TwinQuery {
                    connection_id: Some(connection.id.clone()),
                    limit: PAGE,
                    offset: usize::try_from(cursor.offset).unwrap_or(usize::MAX),
                    ..TwinQuery::default()
                })
                .await?;
            let signals: Vec<_> = twins
                .iter()
                .filter(|t| t.status != TwinStatus::Unlinked)
                .filter_map(|t| t.local_key.as_deref())
                .map(|k| signal_for(k, 0, &tag))
                .collect();
            queue_changes(node, connection, &signals, true).await?;
            Ok(JobPage {
                done: twins.len() as u64,
                errors: Vec::new(),
                next: (twins.len() == PAGE).then(|| JobCursor {
                    offset: cursor.offset + PAGE as u64,
                    ..cursor.clone()
                }),
            })
        }
        JobKind::Connect { pairs } => {
            let start = usize::try_from(cursor.offset).unwrap_or(usize::MAX);
            let slice = pairs.iter().skip(start).take(PAGE);
            let mut errors = Vec::new();
            let mut n = 0;
            for (local, remote) in slice {
                n += 1;
                // Done before (a page run again after a crash): the same answer.
                if let Err(e) = operations::relink(node, &connection.id, local, remote).await
                    && !e.to_string().contains("linked already")
                {
                    errors.push(format!("{local} <-> {remote}: {e}"));
                }
            }
            let offset = cursor.offset + n;
            Ok(JobPage {
                done: n,
                errors,
                next: (offset < pairs.len() as u64).then(|| JobCursor {
                    offset,
                    ..cursor.clone()
                }),
            })
        }
    }
}

/// One tracker page of the connection's active triggers from `cursor`, and the cursor
/// after it (`None` past the last trigger's last page).
async fn trigger_page(
    node: &Node,
    connection: &Connection,
    cursor: &JobCursor,
) -> NodeResult<(Vec<Item>, Option<JobCursor>)> {
    let triggers: Vec<_> = connection
        .triggers()
        .iter()
        .filter(|t| t.active)
        .cloned()
        .collect();
    let Some(trigger) = triggers.get(cursor.trigger) else {
        return Ok((Vec::new(), None));
    };
    let tracker = node.tracker(&connection.local_instance)?;
    let found = tracker
        .search_updated(&trigger.query, 0, cursor.page.clone())
        .await?;
    let next = match found.next {
        Some(page) => JobCursor {
            page: Some(page),
            ..cursor.clone()
        },
        None => JobCursor {
            trigger: cursor.trigger + 1,
            page: None,
            offset: 0,
        },
    };
    let more = next.page.is_some() || next.trigger < triggers.len();
    Ok((found.items, more.then_some(next)))
}

/// Asks the other node to link its item that carries `item`'s value in `field`. An item
/// under sync already is left alone (a page done again after a crash finds it so).
async fn connect_by_field(
    node: &Node,
    connection: &Connection,
    item: &Item,
    field: &str,
) -> Result<(), String> {
    let linked = node
        .twins
        .find_by_local(&connection.id, &item.key)
        .await
        .map_err(|e| e.to_string())?;
    if linked.is_some() {
        return Ok(());
    }
    let Some(on) = value_of(item, field) else {
        return Err(format!("no value in {field}"));
    };
    operations::relink_to(node, &connection.id, &item.key, RelinkTarget::Match(on))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
