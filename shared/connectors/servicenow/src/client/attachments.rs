//! Attachments through the Attachment API: a file from the other side is downloaded
//! (within this instance's size limit, the instance's credentials only to its own origin)
//! and uploaded with `POST /api/now/attachment/file`; this instance's own files are
//! downloaded from `/api/now/attachment/{sys_id}/file` with a byte cap, and only from its
//! own host.

use super::ServiceNowTracker;
use crate::mapping;
use twinsync_connector_kit::outbound::{self, Download};
use twinsync_connector_kit::target::same_origin;
use twinsync_core::Attachment;
use twinsync_ports::{PortError, PortResult};

impl ServiceNowTracker {
    /// Copies `attachment` onto the record `key`.
    pub(super) async fn upload(
        &self,
        key: &str,
        attachment: &Attachment,
    ) -> PortResult<Attachment> {
        let max = self.config.attachment_max_bytes;
        if attachment.size > max {
            return Err(PortError::Rejected(format!(
                "attachment {:?} is {} bytes, over this ServiceNow's limit of {max} bytes: it was not uploaded",
                attachment.filename, attachment.size
            )));
        }
        let authorization = self.auth.header(&self.http).await?;
        let bytes = outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &self.config.base_url,
                authorization: Some(&authorization),
                max_bytes: max,
            },
        )
        .await?;
        let sys_id = self
            .sys_id(key)
            .await?
            .ok_or_else(|| PortError::NotFound(format!("no ServiceNow record {key}")))?;
        let mime = if attachment.mime_type.is_empty() {
            "application/octet-stream"
        } else {
            attachment.mime_type.as_str()
        };
        let url = self.url("/api/now/attachment/file");
        let params = [
            ("table_name", self.config.table.clone()),
            ("table_sys_id", sys_id),
            ("file_name", attachment.filename.clone()),
        ];
        let uploaded = self
            .send(|| {
                self.http
                    .post(&url)
                    .query(&params)
                    .header("content-type", mime)
                    .body(bytes.clone())
            })
            .await?;
        Ok(Attachment {
            remote_id: Some(
                attachment
                    .remote_id
                    .clone()
                    .unwrap_or_else(|| attachment.id.clone()),
            ),
            ..mapping::attachment(&uploaded.body["result"])
        })
    }

    /// The content of one of this instance's attachments, at most
    /// `attachment_max_bytes`; a link to any other host is refused.
    pub async fn download(&self, attachment: &Attachment) -> PortResult<Vec<u8>> {
        if !same_origin(&attachment.url, &self.config.base_url) {
            return Err(PortError::Rejected(format!(
                "attachment {:?} is not on this ServiceNow instance's host",
                attachment.url
            )));
        }
        self.gate.admit().await?;
        let authorization = self.auth.header(&self.http).await?;
        outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &self.config.base_url,
                authorization: Some(&authorization),
                max_bytes: self.config.attachment_max_bytes,
            },
        )
        .await
    }
}
