//! Attachments: downloaded from the other side (within this Jira's size limit, only from
//! allowed hosts, with Jira's token only for Jira's own origin) and uploaded as multipart.

use super::JiraTracker;
use twinsync_connector_kit::outbound::{self, Download};
use twinsync_core::Attachment;
use twinsync_ports::{PortError, PortResult};

impl JiraTracker {
    /// Copies `attachment` onto the issue `key`.
    pub(super) async fn upload(
        &self,
        key: &str,
        attachment: &Attachment,
    ) -> PortResult<Attachment> {
        let max = self.config.attachment_max_bytes;
        if attachment.size > max {
            return Err(PortError::Rejected(format!(
                "attachment {:?} is {} bytes, over this Jira's limit of {max} bytes: it was not uploaded",
                attachment.filename, attachment.size
            )));
        }
        // Jira's token goes only to this Jira's exact origin, never to a look-alike host.
        let bytes = outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &self.config.base_url,
                authorization: Some(&self.authorization),
                max_bytes: max,
            },
        )
        .await?;
        let mime = if attachment.mime_type.is_empty() {
            "application/octet-stream"
        } else {
            attachment.mime_type.as_str()
        };
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(attachment.filename.clone())
            .mime_str(mime)
            .map_err(|e| PortError::Rejected(format!("attachment type {mime:?}: {e}")))?;
        let uploaded = self
            .send(
                self.http
                    .post(self.api(&format!("/issue/{key}/attachments")))
                    // Jira refuses multipart uploads without it (XSRF protection).
                    .header("x-atlassian-token", "no-check")
                    .multipart(reqwest::multipart::Form::new().part("file", part)),
            )
            .await?;
        let first = uploaded
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| PortError::Rejected("Jira stored no attachment".into()))?;
        Ok(Attachment {
            remote_id: Some(
                attachment
                    .remote_id
                    .clone()
                    .unwrap_or_else(|| attachment.id.clone()),
            ),
            ..crate::mapping::attachment(first)
        })
    }
}
