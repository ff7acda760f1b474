//! Who may do what on the admin API. The node's own admin token may do everything. A
//! workspace token (`twinsync workspace token`) acts only on the connections of its
//! workspace's integrations: read-only, or operator (operations, bulk jobs, Retry, pause
//! and resume, versions); never node-wide administration (connections made or deleted,
//! secrets, workspaces, subscriptions, tokens). A thing outside the workspace is answered
//! as if it did not exist (404), so a token learns nothing about the rest of the node.

use super::guard::{self, AdminGuard};
use crate::Node;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use twinsync_core::{Action, Role};

/// The scope of the request's token, put in the request's extensions for the handlers
/// that list things.
#[derive(Debug, Clone)]
pub enum Scope {
    Node,
    Workspace {
        id: String,
        role: Role,
        connections: Vec<String>,
    },
}

impl Scope {
    /// Whether this scope sees the connection.
    pub fn sees(&self, connection_id: &str) -> bool {
        match self {
            Scope::Node => true,
            Scope::Workspace { connections, .. } => connections.iter().any(|c| c == connection_id),
        }
    }

    /// The connections a listing is limited to: `None` for the node's token.
    pub fn within(&self) -> Option<Vec<String>> {
        match self {
            Scope::Node => None,
            Scope::Workspace { connections, .. } => Some(connections.clone()),
        }
    }

    /// The one workspace a workspace token sees.
    pub fn workspace(&self) -> Option<&str> {
        match self {
            Scope::Node => None,
            Scope::Workspace { id, .. } => Some(id),
        }
    }
}

/// What a request acts on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// Node-wide: a listing (filtered by the handler) or node administration.
    Node,
    Connection(&'a str),
    Twin(&'a str),
    Job(&'a str),
}

/// The action and target of an admin API request.
pub(crate) fn classify<'a>(method: &Method, path: &'a str) -> (Action, Target<'a>) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let target = match parts.as_slice() {
        ["api", "connections", "invite" | "accept" | "local"] => Target::Node,
        ["api", "connections", id, ..] => Target::Connection(id),
        ["api", "twins", id, ..] => Target::Twin(id),
        ["api", "jobs", id, ..] => Target::Job(id),
        _ => Target::Node,
    };
    if *method == Method::GET || *method == Method::HEAD {
        return (Action::Read, target);
    }
    let operates = match (&target, parts.as_slice()) {
        (Target::Connection(_), [_, _, _, "rotate-secret"]) => false,
        (Target::Connection(_), [_, _, _, _, ..]) => true,
        (Target::Twin(_), [_, _, _, "retry"]) => true,
        (Target::Job(_), [_, _, _, "cancel"]) => true,
        _ => false,
    };
    if operates {
        (Action::Operate, target)
    } else {
        (Action::Administer, Target::Node)
    }
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new workspace token: 32 random bytes, hex, and its digest to keep.
pub(crate) fn new_token() -> crate::NodeResult<(String, String)> {
    let token = crate::admin::AdminToken::generate()?;
    let text = token.expose().to_string();
    let kept = digest(&text);
    Ok((text, kept))
}

/// The admin token or a workspace token on every `/api/*` route, and what the latter may
/// reach.
pub async fn check(
    State((guard, node)): State<(AdminGuard, Arc<Node>)>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = guard::presented(req.headers()).map(str::to_string) else {
        return guard::unauthorized();
    };
    if guard.is_admin(&token) {
        req.extensions_mut().insert(Scope::Node);
        return next.run(req).await;
    }
    let scope = match crate::workspaces::load(&node).await {
        Ok(doc) => match doc.find_token(&digest(&token)) {
            Some((w, t)) => Scope::Workspace {
                id: w.id.clone(),
                role: t.role,
                connections: w.connections(),
            },
            None => return guard::unauthorized(),
        },
        Err(e) => return super::ApiError::from(e).into_response(),
    };
    let (action, target) = classify(req.method(), req.uri().path());
    if let Scope::Workspace { role, id, .. } = &scope
        && !role.may(action)
    {
        let what = match action {
            Action::Administer => "node administration takes the node's admin token",
            _ => "a read-only token cannot change anything",
        };
        return guard::forbidden(format!("workspace {id}: {what}"));
    }
    if !reaches(&node, &scope, &target).await {
        return super::ApiError(
            StatusCode::NOT_FOUND,
            "no such thing in this workspace".into(),
        )
        .into_response();
    }
    req.extensions_mut().insert(scope);
    next.run(req).await
}

/// Whether the scope reaches the target: a twin or job by its connection.
async fn reaches(node: &Node, scope: &Scope, target: &Target<'_>) -> bool {
    if matches!(scope, Scope::Node) {
        return true;
    }
    match target {
        Target::Node => true,
        Target::Connection(id) => scope.sees(id),
        Target::Twin(id) => match node.twins.get(id).await {
            Ok(Some(t)) => scope.sees(&t.connection_id),
            _ => false,
        },
        Target::Job(id) => match crate::jobs::get(node, id).await {
            Ok(job) => scope.sees(&job.connection_id),
            Err(_) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let get = Method::GET;
        let post = Method::POST;
        let delete = Method::DELETE;
        let cases = [
            (&get, "/api/connections", Action::Read, Target::Node),
            (
                &get,
                "/api/connections/c1",
                Action::Read,
                Target::Connection("c1"),
            ),
            (&get, "/api/twins/t1/pair", Action::Read, Target::Twin("t1")),
            (&get, "/api/jobs/j1", Action::Read, Target::Job("j1")),
            (&get, "/api/workspaces", Action::Read, Target::Node),
            (
                &post,
                "/api/connections/c1/operations/sync",
                Action::Operate,
                Target::Connection("c1"),
            ),
            (
                &post,
                "/api/connections/c1/jobs",
                Action::Operate,
                Target::Connection("c1"),
            ),
            (
                &post,
                "/api/connections/c1/deactivate",
                Action::Operate,
                Target::Connection("c1"),
            ),
            (
                &post,
                "/api/connections/c1/versions/2/activate",
                Action::Operate,
                Target::Connection("c1"),
            ),
            (
                &delete,
                "/api/connections/c1/shadow",
                Action::Operate,
                Target::Connection("c1"),
            ),
            (
                &post,
                "/api/twins/t1/retry",
                Action::Operate,
                Target::Twin("t1"),
            ),
            (
                &post,
                "/api/jobs/j1/cancel",
                Action::Operate,
                Target::Job("j1"),
            ),
            (
                &post,
                "/api/connections/c1/rotate-secret",
                Action::Administer,
                Target::Node,
            ),
            (
                &delete,
                "/api/connections/c1",
                Action::Administer,
                Target::Node,
            ),
            (
                &post,
                "/api/connections/invite",
                Action::Administer,
                Target::Node,
            ),
            (
                &post,
                "/api/connections/accept",
                Action::Administer,
                Target::Node,
            ),
            (&post, "/api/workspaces", Action::Administer, Target::Node),
            (
                &post,
                "/api/workspaces/w/tokens",
                Action::Administer,
                Target::Node,
            ),
            (
                &post,
                "/api/integrations/i/subscription",
                Action::Administer,
                Target::Node,
            ),
        ];
        for (method, path, action, target) in cases {
            assert_eq!(classify(method, path), (action, target), "{method} {path}");
        }
    }

    #[test]
    fn a_scope_sees_its_connections_only() {
        let scope = Scope::Workspace {
            id: "acme".into(),
            role: Role::Read,
            connections: vec!["c1".into()],
        };
        assert!(scope.sees("c1"));
        assert!(!scope.sees("c2"));
        assert!(Scope::Node.sees("c2"));
        assert_eq!(scope.workspace(), Some("acme"));
    }
}
