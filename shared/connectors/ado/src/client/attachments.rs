//! Attachments: downloaded from the other side (within the size cap, only from allowed
//! hosts, with this organization's token only for its own origin), uploaded to
//! `_apis/wit/attachments`, and related to the work item with an `AttachedFile` relation
//! in a JSON Patch that tests the rev like every other write.

use super::{API_VERSION, AdoTracker, segment};
use crate::mapping::{ATTACHED_FILE, test_rev};
use serde_json::json;
use twinsync_connector_kit::outbound::{self, Download};
use twinsync_core::Attachment;
use twinsync_ports::{PortError, PortResult};

impl AdoTracker {
    /// Copies `attachment` onto the work item `key`.
    pub(super) async fn upload(
        &self,
        key: &str,
        attachment: &Attachment,
    ) -> PortResult<Attachment> {
        let max = self.config.attachment_max_bytes;
        if attachment.size > max {
            return Err(PortError::Rejected(format!(
                "attachment {:?} is {} bytes, over this organization's limit of {max} bytes: it was not uploaded",
                attachment.filename, attachment.size
            )));
        }
        let bytes = outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &self.config.org_url,
                authorization: Some(&self.authorization),
                max_bytes: max,
            },
        )
        .await?;
        let size = bytes.len() as u64;
        if self.seen(key).is_none() {
            self.get_item_raw(key).await?;
        }
        let seen = self.seen(key).unwrap_or_default();
        let project = if seen.project.is_empty() {
            self.config.project.clone()
        } else {
            seen.project.clone()
        };
        let stored = self
            .send(
                self.http
                    .post(self.project_api(&project, "/wit/attachments"))
                    .query(&[
                        ("fileName", attachment.filename.as_str()),
                        ("api-version", API_VERSION),
                    ])
                    .header("content-type", "application/octet-stream")
                    .body(bytes),
            )
            .await?;
        let url = stored["url"]
            .as_str()
            .ok_or_else(|| PortError::Rejected("Azure DevOps stored no attachment".into()))?
            .to_string();
        let ops = json!([
            test_rev(seen.rev),
            {"op": "add", "path": "/relations/-", "value": {
                "rel": ATTACHED_FILE,
                "url": url,
                "attributes": {"comment": "copied by twinsync"}
            }}
        ]);
        let updated = self
            .send(
                self.http
                    .patch(self.org_api(&format!("/wit/workitems/{}", segment(key))))
                    .query(&[("api-version", API_VERSION)])
                    .header("content-type", "application/json-patch+json")
                    .body(ops.to_string()),
            )
            .await?;
        self.remember(&updated);
        Ok(Attachment {
            id: stored["id"].as_str().unwrap_or("").to_string(),
            filename: attachment.filename.clone(),
            mime_type: attachment.mime_type.clone(),
            size,
            url,
            remote_id: Some(
                attachment
                    .remote_id
                    .clone()
                    .unwrap_or_else(|| attachment.id.clone()),
            ),
        })
    }
}
