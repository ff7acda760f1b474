//! Files as ContentVersion: a file from the other side is downloaded (within the size
//! limit; this org's token only to its own instance) and uploaded as
//! `POST /sobjects/ContentVersion` with base64 `VersionData` and `FirstPublishLocationId`
//! = the Case, which links it to the Case. This org's files are downloaded from
//! `/sobjects/ContentVersion/{id}/VersionData` with a byte cap, only from its own host.

use super::{SalesforceTracker, check_id};
use crate::mapping;
use base64::Engine;
use serde_json::json;
use twinsync_connector_kit::outbound::{self, Download};
use twinsync_connector_kit::target::same_origin;
use twinsync_core::Attachment;
use twinsync_ports::{PortError, PortResult};

impl SalesforceTracker {
    /// Copies `attachment` onto the Case `key`.
    pub(super) async fn upload(
        &self,
        key: &str,
        attachment: &Attachment,
    ) -> PortResult<Attachment> {
        let id = check_id(key)?;
        let max = self.config.attachment_max_bytes;
        if attachment.size > max {
            return Err(PortError::Rejected(format!(
                "attachment {:?} is {} bytes, over this Salesforce org's limit of {max} bytes: it was not uploaded",
                attachment.filename, attachment.size
            )));
        }
        let session = self.auth.session(&self.http).await?;
        let bearer = format!("Bearer {}", session.access);
        let bytes = outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &session.instance_url,
                authorization: Some(&bearer),
                max_bytes: max,
            },
        )
        .await?;
        let title = attachment
            .filename
            .rsplit_once('.')
            .map(|(t, _)| t)
            .unwrap_or(&attachment.filename);
        let row = json!({
            "Title": title,
            "PathOnClient": attachment.filename,
            "VersionData": base64::engine::general_purpose::STANDARD.encode(&bytes),
            "FirstPublishLocationId": id,
        });
        let path = self.sobject_path("ContentVersion", None);
        let created = self
            .send(&path, |url| self.http.post(url).json(&row))
            .await?;
        let version_id = mapping::field(&created, "id");
        let stored = json!({
            "Id": version_id,
            "Title": title,
            "PathOnClient": attachment.filename,
            "ContentSize": bytes.len(),
        });
        Ok(Attachment {
            remote_id: Some(
                attachment
                    .remote_id
                    .clone()
                    .unwrap_or_else(|| attachment.id.clone()),
            ),
            mime_type: attachment.mime_type.clone(),
            ..mapping::attachment(&stored, &session.instance_url, &self.config.data_path())
        })
    }

    /// The content of one of this org's files, at most `attachment_max_bytes`; a link to
    /// any other host is refused.
    pub async fn download(&self, attachment: &Attachment) -> PortResult<Vec<u8>> {
        let session = self.auth.session(&self.http).await?;
        if !same_origin(&attachment.url, &session.instance_url) {
            return Err(PortError::Rejected(format!(
                "attachment {:?} is not on this Salesforce instance's host",
                attachment.url
            )));
        }
        self.gate.admit().await?;
        let bearer = format!("Bearer {}", session.access);
        outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &session.instance_url,
                authorization: Some(&bearer),
                max_bytes: self.config.attachment_max_bytes,
            },
        )
        .await
    }
}
