//! What a config must be besides well-formed TOML: unique ids, addresses that may be bound,
//! public URLs that keep requests private, the tables each connector needs, webhook
//! secrets and limits in range, each error with its key and line.

use super::*;

/// Whether a `public_url` may be plain http on a non-loopback host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPublicUrl {
    Refused,
    Allowed,
}

impl HttpPublicUrl {
    /// From the config's `allow_http_public_url`.
    pub fn from_setting(allow: bool) -> HttpPublicUrl {
        if allow {
            HttpPublicUrl::Allowed
        } else {
            HttpPublicUrl::Refused
        }
    }
}

/// Checks a public URL: an absolute https URL, or http on a loopback host (or anywhere
/// when `http` allows it). An invitation carries it, and the other node signs its
/// requests to it, but only TLS keeps their bodies private.
pub fn check_public_url(url: &str, http: HttpPublicUrl) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url:?} names no host"))?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?}: a public URL has no query or fragment"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || http == HttpPublicUrl::Allowed => Ok(()),
        "http" => Err(format!(
            "{url:?} is plain http on a host other nodes reach over the network; use https \
             (or set allow_http_public_url = true on a network you trust)"
        )),
        other => Err(format!("{url:?}: the scheme must be https, not {other}")),
    }
}

/// A literal address that is not loopback (a host name is checked when it is bound).
fn open_address(listen: &str) -> Option<std::net::SocketAddr> {
    listen
        .parse::<std::net::SocketAddr>()
        .ok()
        .filter(|a| !a.ip().is_loopback())
}

impl ProcessConfig {
    pub(super) fn check(&self, text: &str, path: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, needle: &str, message: String| ConfigError::Invalid {
            path: path.to_string(),
            line: line_of(text, needle),
            key,
            message,
        };
        if self.node.is_empty() {
            return Err(invalid(
                "node".into(),
                "",
                "at least one [[node]] is needed".into(),
            ));
        }
        let mut node_ids = std::collections::HashSet::new();
        for (n, node) in self.node.iter().enumerate() {
            if !node_ids.insert(&node.id) {
                return Err(invalid(
                    format!("node[{n}].id"),
                    &node.id,
                    format!("duplicate node id {:?}", node.id),
                ));
            }
            if let Err((key, needle, message)) = node.check_network() {
                return Err(invalid(format!("node[{n}].{key}"), &needle, message));
            }
            if let Err((key, message)) = node.check_poll_intervals() {
                return Err(invalid(format!("node[{n}].{key}"), &key, message));
            }
            if let Some(hours) = node.retry_budget_hours
                && !(hours > 0.0 && hours <= MAX_RETRY_BUDGET_HOURS)
            {
                return Err(invalid(
                    format!("node[{n}].retry_budget_hours"),
                    "retry_budget_hours",
                    format!("must be more than 0 and at most {MAX_RETRY_BUDGET_HOURS} (14 days)"),
                ));
            }
            if let Some(bytes) = node.max_replica_bytes
                && !(MIN_MAX_TRANSPORT_BODY..=MAX_MAX_TRANSPORT_BODY).contains(&bytes)
            {
                return Err(invalid(
                    format!("node[{n}].max_replica_bytes"),
                    "max_replica_bytes",
                    format!(
                        "must be from {MIN_MAX_TRANSPORT_BODY} (64 KiB) to {MAX_MAX_TRANSPORT_BODY} (64 MiB)"
                    ),
                ));
            }
            let mut ids = std::collections::HashSet::new();
            for (i, inst) in node.instance.iter().enumerate() {
                if inst.connector == ConnectorKind::Redmine
                    && (inst.token.is_none() || inst.origin_field_id.is_none())
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a redmine instance needs token (the API key) and origin_field_id".into(),
                    ));
                }
                if inst.connector == ConnectorKind::Github {
                    let problem = match &inst.github {
                        None => Some("a github instance needs a [github] table with repo"),
                        Some(g) if g.app.is_some() == inst.token.is_some() => {
                            Some("a github instance needs either token or [github.app]")
                        }
                        Some(_) if inst.webhook_secret.is_empty() && inst.register_webhook => {
                            Some("a github instance with register_webhook needs webhook_secret")
                        }
                        Some(_) => None,
                    };
                    if let Some(message) = problem {
                        return Err(invalid(
                            format!("node[{n}].instance[{i}]"),
                            &inst.id,
                            message.into(),
                        ));
                    }
                }
                if inst.connector == ConnectorKind::Jira
                    && (inst.jira.is_none() || inst.token.is_none())
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a jira instance needs token (API token with [jira] email, or an OAuth token) and a [jira] table with project".into(),
                    ));
                }
                if inst.connector == ConnectorKind::Ado
                    && (inst.ado.is_none() || inst.token.is_none())
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "an ado instance needs token (a PAT, or an Entra token with [ado] oauth = true) and an [ado] table with project".into(),
                    ));
                }
                if inst.connector == ConnectorKind::ServiceNow && inst.servicenow.is_none() {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a servicenow instance needs a [servicenow] table with username (and token, its password) or oauth_client_id".into(),
                    ));
                }
                if inst.connector == ConnectorKind::Zendesk
                    && (inst.zendesk.is_none() || inst.token.is_none())
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a zendesk instance needs token (API token with [zendesk] email, or an OAuth token) and a [zendesk] table".into(),
                    ));
                }
                let salesforce_auth = inst.salesforce.as_ref().is_some_and(|s| {
                    (s.private_key_file.is_some() && s.username.is_some()) || inst.token.is_some()
                });
                if inst.connector == ConnectorKind::Salesforce && !salesforce_auth {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a salesforce instance needs a [salesforce] table with client_id, and username + private_key_file (JWT bearer) or token (a refresh token)".into(),
                    ));
                }
                if inst.budget.is_some() && inst.connector != ConnectorKind::Sandbox {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].budget"),
                        &inst.id,
                        format!(
                            "[budget] is for sandbox instances; a {} instance keeps requests_per_minute in its own table",
                            inst.connector
                        ),
                    ));
                }
                if let Some(problem) = by_hand_problem(inst) {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].webhook_by_hand"),
                        &inst.id,
                        problem.into(),
                    ));
                }
                if let Some(problem) = webhook_problem(inst) {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].webhook_secret"),
                        &inst.id,
                        problem.into(),
                    ));
                }
                if !ids.insert(&inst.id) {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].id"),
                        &inst.id,
                        format!("duplicate instance id {:?}", inst.id),
                    ));
                }
                if let Some(sandbox) = inst.base_url.strip_prefix("sandbox:")
                    && !self.sandbox.iter().any(|s| s.id == sandbox)
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].base_url"),
                        &inst.base_url,
                        format!("no [[sandbox]] with id {sandbox:?}"),
                    ));
                }
            }
            let mut conn_ids = std::collections::HashSet::new();
            for (c, conn) in node.connection.iter().enumerate() {
                if !conn_ids.insert(&conn.id) {
                    return Err(invalid(
                        format!("node[{n}].connection[{c}].id"),
                        &conn.id,
                        format!("duplicate connection id {:?}", conn.id),
                    ));
                }
                if !node.instance.iter().any(|i| i.id == conn.instance) {
                    return Err(invalid(
                        format!("node[{n}].connection[{c}].instance"),
                        &format!("\"{}\"", conn.instance),
                        format!("no instance {:?} on node {:?}", conn.instance, node.id),
                    ));
                }
                for (p, plan) in conn.plan.iter().enumerate() {
                    if let Err(e) = crate::handlers::scheduler::parse_cron(&plan.cron) {
                        return Err(invalid(
                            format!("node[{n}].connection[{c}].plan[{p}].cron"),
                            &plan.cron,
                            e,
                        ));
                    }
                }
                for (t, trigger) in conn.trigger.iter().enumerate() {
                    if let Err(e) = Filter::parse(&trigger.query) {
                        return Err(invalid(
                            format!("node[{n}].connection[{c}].trigger[{t}].query"),
                            &trigger.query,
                            e.to_string(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl NodeSection {
    /// Both poll intervals more than 0, and the one behind webhooks no shorter than the
    /// one without: it only catches what a lost webhook would hide.
    fn check_poll_intervals(&self) -> Result<(), (String, String)> {
        let intervals = self.poll_intervals();
        for (key, ms) in [
            ("poll_interval_ms", intervals.polls_ms),
            ("webhook_poll_interval_ms", intervals.webhooks_ms),
        ] {
            if ms <= 0 {
                return Err((key.into(), format!("{ms}: must be more than 0 ms")));
            }
        }
        if intervals.webhooks_ms < intervals.polls_ms {
            return Err((
                "webhook_poll_interval_ms".into(),
                format!(
                    "{} is shorter than poll_interval_ms ({}): with webhooks, polling only \
                     catches a lost one, so it runs no more often than without",
                    intervals.webhooks_ms, intervals.polls_ms
                ),
            ));
        }
        Ok(())
    }

    /// The listeners and the public URL: the admin API on loopback unless allowed, a
    /// public URL that is https (or http where it may be), and one at all when the public
    /// listener is not on loopback. An error is (key, text to find its line by, message).
    fn check_network(&self) -> Result<(), (String, String, String)> {
        if let Some(open) = open_address(&self.admin_listen)
            && !self.admin_allow_remote
        {
            return Err((
                "admin_listen".into(),
                self.admin_listen.clone(),
                format!(
                    "{open} is not a loopback address; the admin API controls the node, so it \
                     listens on loopback unless admin_allow_remote = true"
                ),
            ));
        }
        match &self.public_url {
            Some(url) => {
                check_public_url(url, HttpPublicUrl::from_setting(self.allow_http_public_url))
                    .map_err(|m| ("public_url".into(), url.clone(), m))
            }
            None => match open_address(&self.listen) {
                Some(open) => Err((
                    "public_url".into(),
                    self.listen.clone(),
                    format!(
                        "a node listening on {open} needs public_url, the https URL other \
                         nodes and trackers reach it at"
                    ),
                )),
                None => Ok(()),
            },
        }
    }
}

/// What is wrong with a webhook declared set up by hand, if anything.
fn by_hand_problem(inst: &InstanceSection) -> Option<&'static str> {
    match inst {
        i if !i.webhook_by_hand => None,
        i if i.register_webhook => Some(
            "webhook_by_hand is for a webhook you set up on the tracker yourself: set register_webhook = false",
        ),
        i if i.connector == ConnectorKind::Redmine => {
            Some("redmine sends no webhooks: polling brings its changes")
        }
        // A delivery that fails its secret is how the node learns the webhook brings
        // nothing, and goes back to polling on the short interval.
        i if i.webhook_secret.is_empty() => Some(
            "webhook_by_hand needs the webhook's webhook_secret: deliveries that fail it send polling back to the short interval",
        ),
        _ => None,
    }
}

/// What is wrong with how an instance's webhooks are authenticated, if anything.
fn webhook_problem(inst: &InstanceSection) -> Option<&'static str> {
    match inst.connector {
        ConnectorKind::Sandbox
            if inst.webhook_secret.len() < twinsync_sandbox::MIN_WEBHOOK_SECRET =>
        {
            Some("a sandbox webhook_secret needs at least 16 bytes: a short one can be guessed")
        }
        ConnectorKind::Jira
            if inst.webhook_secret.is_empty()
                && !inst.jira.as_ref().is_some_and(|j| j.allow_unsigned) =>
        {
            Some(
                "a jira instance needs webhook_secret (the admin webhook's secret), or \
                 [jira] allow_unsigned = true to take unsigned deliveries as signals",
            )
        }
        // Azure DevOps signs nothing: without a secret any delivery would be taken.
        ConnectorKind::Ado if inst.webhook_secret.len() < 16 && inst.register_webhook => Some(
            "an ado instance that registers service hooks needs a webhook_secret of at least 16 bytes: Azure DevOps signs nothing, the subscription sends it",
        ),
        // Without a registration at start, nothing tells the node the signing secret.
        ConnectorKind::Zendesk if inst.webhook_secret.is_empty() && !inst.register_webhook => Some(
            "a zendesk instance that does not register its webhook needs webhook_secret \
                 (the webhook's signing secret)",
        ),
        // The path's secret is all an Outbound Message has: a short one can be guessed.
        ConnectorKind::Salesforce
            if !inst.webhook_secret.is_empty() && inst.webhook_secret.len() < 16 =>
        {
            Some(
                "a salesforce webhook_secret (the Outbound Message URL's last segment) needs at least 16 bytes",
            )
        }
        _ => None,
    }
}
