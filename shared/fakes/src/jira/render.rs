//! How the fake Jira's state looks in Jira's JSON: users, statuses, transitions,
//! comments, attachments, and issues with the fields and properties asked for.

use super::state::{
    AttachmentData, CommentData, Data, Fake, ISSUE_TYPES, IssueData, PRIORITIES, STATUSES,
};
use serde_json::{Map, Value, json};
use twinsync_jira::mapping::timestamp;

/// The system fields' display names, for `expand=names`.
const FIELD_NAMES: [(&str, &str); 13] = [
    ("summary", "Summary"),
    ("description", "Description"),
    ("status", "Status"),
    ("priority", "Priority"),
    ("labels", "Labels"),
    ("assignee", "Assignee"),
    ("reporter", "Reporter"),
    ("comment", "Comment"),
    ("attachment", "Attachment"),
    ("updated", "Updated"),
    ("created", "Created"),
    ("project", "Project"),
    ("issuetype", "Issue Type"),
];

impl Fake {
    pub(super) fn user(&self, data: &Data, account_id: &str) -> Value {
        let found = data.accounts.iter().find(|(_, (id, _))| id == account_id);
        let (email, name) = found
            .map(|(e, (_, n))| (e.clone(), n.clone()))
            .unwrap_or_default();
        json!({
            "self": format!("{}/rest/api/3/user?accountId={account_id}", self.base),
            "accountId": account_id,
            "accountType": "atlassian",
            "emailAddress": email,
            "avatarUrls": {"48x48": format!("https://avatar.example/{account_id}/48")},
            "displayName": name,
            "active": true,
            "timeZone": "Etc/UTC"
        })
    }

    pub(super) fn status(&self, index: usize) -> Value {
        let (id, name, cat, cat_name) = STATUSES[index.min(STATUSES.len() - 1)];
        let cat_id = match cat {
            "new" => 2,
            "indeterminate" => 4,
            _ => 3,
        };
        json!({
            "self": format!("{}/rest/api/3/status/{id}", self.base),
            "description": "", "iconUrl": format!("{}/images/icons/status.png", self.base),
            "name": name, "id": id,
            "statusCategory": {"self": format!("{}/rest/api/3/statuscategory/{cat_id}", self.base),
                "id": cat_id, "key": cat, "colorName": "blue-gray", "name": cat_name}
        })
    }

    /// The transitions out of status `current`: one to every other status.
    pub(super) fn transitions(&self, current: usize) -> Vec<Value> {
        STATUSES
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != current)
            .map(|(i, (_, name, _, _))| {
                json!({
                    "id": transition_id(i),
                    "name": name,
                    "to": self.status(i),
                    "hasScreen": false, "isGlobal": true, "isInitial": false,
                    "isAvailable": true, "isConditional": false, "isLooped": false
                })
            })
            .collect()
    }

    pub(super) fn comment(&self, data: &Data, c: &CommentData, with_properties: bool) -> Value {
        let issue = data
            .issues
            .values()
            .find(|i| i.comments.iter().any(|x| x.id == c.id))
            .map(|i| i.id)
            .unwrap_or(0);
        let mut v = json!({
            "self": format!("{}/rest/api/3/issue/{issue}/comment/{}", self.base, c.id),
            "id": c.id.to_string(),
            "author": self.user(data, &c.author),
            "body": c.body,
            "updateAuthor": self.user(data, &c.author),
            "created": timestamp(c.created_ms),
            "updated": timestamp(c.updated_ms),
            "jsdPublic": true
        });
        if with_properties {
            v["properties"] = Value::Array(
                c.properties
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect(),
            );
        }
        v
    }

    pub(super) fn attachment(&self, data: &Data, a: &AttachmentData) -> Value {
        json!({
            "self": format!("{}/rest/api/3/attachments/{}", self.base, a.id),
            "id": a.id.to_string(),
            "filename": a.filename,
            "author": self.user(data, &a.author),
            "created": timestamp(a.created_ms),
            "size": a.bytes.len(),
            "mimeType": a.mime,
            "content": format!("{}/rest/api/3/attachment/content/{}", self.base, a.id)
        })
    }

    /// An issue as `GET /rest/api/3/issue/{key}` answers, with the `fields` asked for.
    pub(super) fn issue(
        &self,
        data: &Data,
        i: &IssueData,
        fields: Option<&str>,
        properties: &[&str],
    ) -> Value {
        let wanted: Vec<&str> = fields
            .unwrap_or("*navigable")
            .split(',')
            .map(str::trim)
            .collect();
        let fields: Map<String, Value> = self
            .all_fields(data, i)
            .into_iter()
            .filter(|(k, _)| keeps(&wanted, k))
            .collect();
        let mut v = json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": i.id.to_string(),
            "self": format!("{}/rest/api/3/issue/{}", self.base, i.id),
            "key": i.key,
            "fields": fields,
        });
        if !properties.is_empty() {
            let props: Map<String, Value> = i
                .properties
                .iter()
                .filter(|(k, _)| properties.contains(&k.as_str()) || properties.contains(&"*all"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            v["properties"] = Value::Object(props);
        }
        v
    }

    /// Every field of `i`, system and custom.
    fn all_fields(&self, data: &Data, i: &IssueData) -> Map<String, Value> {
        let user = |id: &Option<String>| {
            id.as_ref()
                .map(|a| self.user(data, a))
                .unwrap_or(Value::Null)
        };
        let mut all = Map::new();
        all.insert("summary".into(), json!(i.summary));
        let description = i.description.clone().unwrap_or(Value::Null);
        all.insert("description".into(), description);
        all.insert("status".into(), self.status(i.status));
        let priority = i.priority.map(|p| self.priority(p));
        all.insert("priority".into(), priority.unwrap_or(Value::Null));
        all.insert("labels".into(), json!(i.labels));
        all.insert("assignee".into(), user(&i.assignee));
        all.insert("reporter".into(), user(&i.reporter));
        all.insert("creator".into(), self.user(data, &i.creator));
        all.insert("project".into(), self.project(&i.project));
        all.insert("issuetype".into(), self.issue_type(i.issue_type));
        all.insert("comment".into(), self.comment_page(data, i));
        let attachments = i.attachments.iter().map(|a| self.attachment(data, a));
        all.insert("attachment".into(), Value::Array(attachments.collect()));
        all.insert("created".into(), json!(timestamp(i.created_ms)));
        all.insert("updated".into(), json!(timestamp(i.updated_ms)));
        for (id, _, _) in &self.options.custom_fields {
            let value = i.custom.get(id).cloned().unwrap_or(Value::Null);
            all.insert(id.clone(), value);
        }
        all
    }

    fn issue_type(&self, index: usize) -> Value {
        let (id, name, description, level) = ISSUE_TYPES[index.min(ISSUE_TYPES.len() - 1)];
        json!({
            "self": format!("{}/rest/api/3/issuetype/{id}", self.base), "id": id,
            "description": description, "iconUrl": format!("{}/images/icons/{}.svg", self.base, name.to_lowercase()),
            "name": name, "subtask": false, "avatarId": 10318, "hierarchyLevel": level
        })
    }

    fn priority(&self, index: usize) -> Value {
        let (id, name) = PRIORITIES[index];
        json!({"self": format!("{}/rest/api/3/priority/{id}", self.base),
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base, name.to_lowercase()),
            "name": name, "id": id})
    }

    fn project(&self, key: &str) -> Value {
        json!({
            "self": format!("{}/rest/api/3/project/{key}", self.base),
            "id": (key.bytes().map(u64::from).sum::<u64>() + 10_000).to_string(),
            "key": key, "name": key, "projectTypeKey": "software", "simplified": true,
            "avatarUrls": {"48x48": format!("{}/secure/projectavatar?pid={key}", self.base)}
        })
    }

    /// The `comment` field: all the issue's comments on one page.
    fn comment_page(&self, data: &Data, i: &IssueData) -> Value {
        let comments: Vec<Value> = i
            .comments
            .iter()
            .map(|c| self.comment(data, c, false))
            .collect();
        json!({
            "comments": comments,
            "self": format!("{}/rest/api/3/issue/{}/comment", self.base, i.id),
            "maxResults": i.comments.len(), "total": i.comments.len(), "startAt": 0
        })
    }

    /// Every field's display name, for `expand=names`.
    pub(super) fn names(&self) -> Value {
        let mut names = Map::new();
        for (k, n) in FIELD_NAMES {
            names.insert(k.into(), json!(n));
        }
        for (id, name, _) in &self.options.custom_fields {
            names.insert(id.clone(), json!(name));
        }
        Value::Object(names)
    }
}

/// The id of the transition to status `index`.
pub(super) fn transition_id(index: usize) -> String {
    ((index + 1) * 10 + 1).to_string()
}

/// Whether field `name` is among those `wanted` (names, `*all`, `*navigable`, `*custom`,
/// and `-name` to leave one out).
fn keeps(wanted: &[&str], name: &str) -> bool {
    wanted.iter().any(|w| {
        *w == name
            || *w == "*all"
            || *w == "*navigable"
            || (*w == "*custom" && name.starts_with("customfield_"))
    }) && !wanted.contains(&format!("-{name}").as_str())
}
