//! The fake Azure DevOps' JSON for identities and work items.

use super::super::ORG;
use super::super::state::{Data, Fake, WorkItem};
use serde_json::{Value, json};
use twinsync_ado::mapping::timestamp;

/// An `IdentityRef`, or `Null` for nobody; someone unknown keeps their email as name.
pub(in super::super) fn identity(fake: &Fake, data: &Data, email: &str) -> Value {
    if email.is_empty() {
        return Value::Null;
    }
    let (id, name) = data
        .identities
        .get(&email.to_lowercase())
        .cloned()
        .unwrap_or_else(|| (String::new(), email.to_string()));
    json!({
        "displayName": name,
        "url": format!("{}/{ORG}/_apis/Identities/{id}", fake.base),
        "_links": { "avatar": { "href": format!("{}/{ORG}/_apis/GraphProfile/MemberAvatars/aad.{id}", fake.base) } },
        "id": id,
        "uniqueName": email,
        "imageUrl": format!("{}/{ORG}/_apis/GraphProfile/MemberAvatars/aad.{id}", fake.base),
        "descriptor": format!("aad.{id}"),
    })
}

/// A work item as `GET _apis/wit/workitems/{id}` answers it.
pub(in super::super) fn work_item(
    fake: &Fake,
    data: &Data,
    wi: &WorkItem,
    relations: bool,
) -> Value {
    let mut fields = wi.fields.clone();
    let project_id = data.projects.get(&wi.project).cloned().unwrap_or_default();
    if let Some(v) = fields.get("System.AssignedTo").cloned() {
        let email = v.as_str().unwrap_or("");
        if email.is_empty() {
            fields.remove("System.AssignedTo");
        } else {
            fields.insert("System.AssignedTo".into(), identity(fake, data, email));
        }
    }
    if fields.get("System.Tags").and_then(Value::as_str) == Some("") {
        fields.remove("System.Tags");
    }
    fields.remove("System.History");
    fields.insert("System.Id".into(), json!(wi.id));
    fields.insert("System.Rev".into(), json!(wi.rev));
    fields.insert("System.TeamProject".into(), json!(wi.project));
    fields.insert("System.WorkItemType".into(), json!(wi.work_item_type));
    fields.insert("System.CreatedDate".into(), json!(timestamp(wi.created_ms)));
    fields.insert("System.ChangedDate".into(), json!(timestamp(wi.changed_ms)));
    fields.insert(
        "System.CreatedBy".into(),
        identity(fake, data, &wi.created_by),
    );
    fields.insert(
        "System.ChangedBy".into(),
        identity(fake, data, &wi.changed_by),
    );
    fields.insert("System.CommentCount".into(), json!(wi.comments.len()));
    let url = format!(
        "{}/{ORG}/{project_id}/_apis/wit/workItems/{}",
        fake.base, wi.id
    );
    let mut v = json!({
        "id": wi.id,
        "rev": wi.rev,
        "fields": fields,
        "_links": {
            "self": { "href": url },
            "workItemUpdates": { "href": format!("{url}/updates") },
            "workItemRevisions": { "href": format!("{url}/revisions") },
            "workItemComments": { "href": format!("{url}/comments") },
            "html": { "href": format!("{}/{ORG}/{project_id}/_workitems/edit/{}", fake.base, wi.id) },
            "workItemType": { "href": format!("{}/{ORG}/{project_id}/_apis/wit/workItemTypes/{}", fake.base, wi.work_item_type) },
            "fields": { "href": format!("{}/{ORG}/{project_id}/_apis/wit/fields", fake.base) },
        },
        "url": url,
    });
    if relations {
        v["relations"] = json!(wi.relations);
    }
    v
}
