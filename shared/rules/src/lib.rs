//! Sync rules in Rhai.
//!
//! A [`RuleSet`] is one configuration version's outgoing and incoming scripts, compiled
//! once. Scripts run in a sandbox: an operation limit, size limits, no modules, no eval,
//! no IO (print and debug go to the log). Helpers give the scripts what the seeds name:
//! `nodeHelper`, `commentHelper.mergeComments`, `attachmentHelper.mergeAttachments`.

mod helpers;

use helpers::{AttachmentHelper, CommentHelper, NodeHelper};
use rhai::{AST, Dynamic, Engine, EvalAltResult, Map, Position, Scope};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use twinsync_core::{CommentLink, ConfigVersion, Item, NodeHelperMaps};

/// Which script an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Outgoing,
    Incoming,
}

impl std::fmt::Display for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Script::Outgoing => "outgoing",
            Script::Incoming => "incoming",
        })
    }
}

/// A rules error. None is retryable: the script or its output must change first.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RulesError {
    #[error("{script} rules do not compile: {message} (line {line}, column {column})")]
    Compile {
        script: Script,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("{script} rules failed at line {line}: {message}")]
    Runtime {
        script: Script,
        message: String,
        line: usize,
    },
    #[error("{script} rules hit a limit at line {line}: {message}")]
    Limit {
        script: Script,
        message: String,
        line: usize,
    },
    #[error("{script} rules produced an invalid {message}")]
    Output { script: Script, message: String },
}

impl RulesError {
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// The script the error comes from.
    pub fn script(&self) -> Script {
        match self {
            RulesError::Compile { script, .. }
            | RulesError::Runtime { script, .. }
            | RulesError::Limit { script, .. }
            | RulesError::Output { script, .. } => *script,
        }
    }
}

/// What a script may use.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_operations: u64,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 500_000,
            // Rhai counts every string a value holds, so a replica's text in all (its
            // description and comments) must fit: as large as the largest transport body
            // a node may take.
            max_string_size: 64 << 20,
            max_array_size: 50_000,
            max_map_size: 10_000,
            max_call_levels: 32,
            max_expr_depth: 64,
        }
    }
}

/// The inputs of an incoming run.
#[derive(Debug, Clone, Copy)]
pub struct IncomingContext<'a> {
    pub replica: &'a Value,
    pub previous: Option<&'a Value>,
    pub issue: &'a Item,
    pub first_sync: bool,
    pub comment_links: &'a [CommentLink],
    /// A comment created by sync from remote comment X carries origin = prefix + X.
    pub origin_prefix: &'a str,
}

/// One version's compiled scripts.
pub struct RuleSet {
    engine: Engine,
    outgoing: AST,
    incoming: AST,
    maps: NodeHelperMaps,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet").finish_non_exhaustive()
    }
}

fn line_of(p: Position) -> usize {
    p.line().unwrap_or(0)
}

fn engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(limits.max_operations);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
    // Built without modules (`no_module`): an `import` does not compile.
    engine.disable_symbol("eval");
    engine.on_print(|text| tracing::info!(target: "twinsync_rules::script", "{text}"));
    engine.on_debug(|text, source, pos| {
        tracing::debug!(target: "twinsync_rules::script", source = source.unwrap_or(""), line = pos.line().unwrap_or(0), "{text}");
    });
    helpers::register(&mut engine);
    engine
}

fn classify(script: Script, e: &EvalAltResult) -> RulesError {
    let line = line_of(e.position());
    let message = e.to_string();
    match e {
        EvalAltResult::ErrorTooManyOperations(_)
        | EvalAltResult::ErrorDataTooLarge(..)
        | EvalAltResult::ErrorStackOverflow(_) => RulesError::Limit {
            script,
            message,
            line,
        },
        _ => RulesError::Runtime {
            script,
            message,
            line,
        },
    }
}

/// Fields of [`Item`] that are not optional: a script that sets them to `()` leaves them
/// as they were, while `()` on an optional field (status, assignee, …) clears it.
const REQUIRED_FIELDS: &[&str] = &[
    "key",
    "project",
    "url",
    "summary",
    "description",
    "labels",
    "comments",
    "attachments",
    "customFields",
    "version",
    "updatedMs",
];

impl RuleSet {
    pub fn compile(version: &ConfigVersion, limits: Limits) -> Result<RuleSet, RulesError> {
        let engine = engine(&limits);
        let compile = |script: Script, text: &str| {
            engine.compile(text).map_err(|e| RulesError::Compile {
                script,
                message: e.0.to_string(),
                line: e.1.line().unwrap_or(0),
                column: e.1.position().unwrap_or(0),
            })
        };
        let outgoing = compile(Script::Outgoing, &version.outgoing)?;
        let incoming = compile(Script::Incoming, &version.incoming)?;
        Ok(RuleSet {
            outgoing,
            incoming,
            maps: version.helper_maps.clone(),
            engine,
        })
    }

    /// Runs the outgoing script on `issue`; returns the replica (hubIssue) as JSON.
    pub fn outgoing(&self, issue: &Item) -> Result<Value, RulesError> {
        let script = Script::Outgoing;
        let issue_dyn = to_dynamic(script, issue)?;
        let mut scope = Scope::new();
        scope.push_constant("issue", issue_dyn);
        scope.push("replica", Map::new());
        scope.push_constant("nodeHelper", NodeHelper::new(self.maps.clone()));
        self.engine
            .run_ast_with_scope(&mut scope, &self.outgoing)
            .map_err(|e| classify(script, &e))?;
        let replica = scope
            .get_value::<Dynamic>("replica")
            .ok_or_else(|| RulesError::Output {
                script,
                message: "replica: the script removed it".into(),
            })?;
        if !replica.is_map() {
            return Err(RulesError::Output {
                script,
                message: format!("replica: expected a map, got {}", replica.type_name()),
            });
        }
        rhai::serde::from_dynamic::<Value>(&replica).map_err(|e| RulesError::Output {
            script,
            message: format!("replica: {e}"),
        })
    }

    /// Runs the incoming script; returns the item as the script left it.
    pub fn incoming(&self, ctx: &IncomingContext<'_>) -> Result<Item, RulesError> {
        let script = Script::Incoming;
        let issue_dyn = to_dynamic(script, ctx.issue)?;
        let replica = to_dynamic(script, ctx.replica)?;
        let previous = match ctx.previous {
            Some(p) => to_dynamic(script, p)?,
            None => Dynamic::UNIT,
        };
        let mut scope = Scope::new();
        scope.push("issue", issue_dyn.clone());
        scope.push_constant("replica", replica);
        scope.push_constant("previous", previous);
        scope.push_constant("firstSync", ctx.first_sync);
        scope.push_constant("nodeHelper", NodeHelper::new(self.maps.clone()));
        scope.push_constant(
            "commentHelper",
            CommentHelper::new(ctx.comment_links.to_vec(), ctx.origin_prefix.to_string()),
        );
        scope.push_constant("attachmentHelper", AttachmentHelper);
        self.engine
            .run_ast_with_scope(&mut scope, &self.incoming)
            .map_err(|e| classify(script, &e))?;
        let result = scope
            .get_value::<Dynamic>("issue")
            .ok_or_else(|| RulesError::Output {
                script,
                message: "issue: the script removed it".into(),
            })?;
        let Some(mut map) = result.try_cast::<Map>() else {
            return Err(RulesError::Output {
                script,
                message: "issue: expected a map".into(),
            });
        };
        let original = issue_dyn.try_cast::<Map>().unwrap_or_default();
        for field in REQUIRED_FIELDS {
            if map.get(*field).is_some_and(|v| v.is_unit()) {
                match original.get(*field) {
                    Some(v) => map.insert((*field).into(), v.clone()),
                    None => map.remove(*field),
                };
            }
        }
        rhai::serde::from_dynamic::<Item>(&Dynamic::from_map(map)).map_err(|e| RulesError::Output {
            script,
            message: format!("issue: {e}"),
        })
    }
}

fn to_dynamic<T: serde::Serialize>(script: Script, value: &T) -> Result<Dynamic, RulesError> {
    rhai::serde::to_dynamic(value).map_err(|e| RulesError::Output {
        script,
        message: format!("input: {e}"),
    })
}

/// (connection id, version number) -> the version compiled and its rule set.
type Compiled = HashMap<(String, u32), (ConfigVersion, Arc<RuleSet>)>;

/// Compiled rule sets by (connection, version number): each version compiles once.
#[derive(Default)]
pub struct RulesCache {
    sets: Mutex<Compiled>,
    compiled: std::sync::atomic::AtomicUsize,
}

impl RulesCache {
    pub fn get_or_compile(
        &self,
        connection_id: &str,
        version: &ConfigVersion,
    ) -> Result<Arc<RuleSet>, RulesError> {
        let key = (connection_id.to_string(), version.number);
        if let Some((stored, set)) = self.lock().get(&key) {
            // A version's content is fixed once saved; compare anyway so an edited draft
            // never runs stale code.
            if stored == version {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(RuleSet::compile(version, Limits::default())?);
        self.compiled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().insert(key, (version.clone(), set.clone()));
        Ok(set)
    }

    /// How many compilations the cache has done, for tests and metrics.
    pub fn compilations(&self) -> usize {
        self.compiled.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Compiled> {
        self.sets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The rules that ship with the product.
pub mod defaults;
