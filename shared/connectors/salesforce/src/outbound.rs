//! Outbound Messages, Salesforce's push: a workflow rule or flow on Case sends a SOAP
//! `notifications` envelope to the node's endpoint, with the Case's `Id` and
//! `SystemModstamp` (the fields chosen when the message was set up, see README), and
//! resends it until the answer is the SOAP `notificationsResponse` with `<Ack>true</Ack>`.
//! Outbound Messages are not signed: the endpoint URL holds a shared secret (the node
//! hands it over as [`PATH_SECRET`]) and the envelope names the org; both are compared in
//! constant time. A push is a signal only: the Case is read fresh, and SOQL polling stays
//! on for messages that never came. (Change Data Capture is the future path: README.)

use subtle::ConstantTimeEq;
use twinsync_ports::{ChangeSignal, WebhookError, webhook_header as header};

/// The pseudo-header the node fills with the secret segment of the endpoint path.
pub const PATH_SECRET: &str = twinsync_ports::WEBHOOK_PATH_SECRET;

pub const OUTBOUND_NS: &str = "http://soap.sforce.com/2005/09/outbound";

/// The answer Salesforce needs to stop resending a message.
pub const ACK: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">"#,
    r#"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#
);

/// One notification of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub object: String,
    pub record_id: String,
    pub modstamp_ms: i64,
}

/// An envelope read: the org it came from and its notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub organization_id: String,
    pub notifications: Vec<Notification>,
}

fn malformed(m: impl Into<String>) -> WebhookError {
    WebhookError::Malformed(format!("outbound message: {}", m.into()))
}

/// Reads an Outbound Message envelope. DTDs are refused by the parser, so no entity
/// expands.
pub fn parse(body: &[u8]) -> Result<Envelope, WebhookError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| malformed(e.to_string()))?;
    let notifications_el = doc
        .descendants()
        .find(|n| n.has_tag_name((OUTBOUND_NS, "notifications")))
        .ok_or_else(|| malformed("no notifications element"))?;
    let child_text = |node: roxmltree::Node<'_, '_>, name: &str| {
        node.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    };
    let organization_id = child_text(notifications_el, "OrganizationId");
    let mut notifications = Vec::new();
    for n in notifications_el
        .children()
        .filter(|c| c.has_tag_name((OUTBOUND_NS, "Notification")))
    {
        let object_el = n
            .children()
            .find(|c| c.has_tag_name((OUTBOUND_NS, "sObject")))
            .ok_or_else(|| malformed("a notification without sObject"))?;
        // `xsi:type="sf:Case"`: the object's name after the prefix.
        let object = object_el
            .attributes()
            .iter()
            .find(|a| a.name() == "type")
            .map(|a| a.value().rsplit(':').next().unwrap_or("").to_string())
            .unwrap_or_default();
        notifications.push(Notification {
            id: child_text(n, "Id"),
            object,
            record_id: child_text(object_el, "Id"),
            modstamp_ms: crate::soql::millis(&child_text(object_el, "SystemModstamp")),
        });
    }
    Ok(Envelope {
        organization_id,
        notifications,
    })
}

/// Ids compared as Salesforce does across its 15- and 18-character forms: the first 15
/// characters, case-sensitive; in constant time.
fn same_org(a: &str, b: &str) -> bool {
    let cut = |s: &str| {
        s.as_bytes()
            .get(..15)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    };
    let (a, b) = (cut(a), cut(b));
    !a.is_empty() && bool::from(a.ct_eq(&b))
}

/// Checks a delivery (the path's secret, the org) and says which Cases changed.
pub fn verify(
    secret: &str,
    organization_id: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<ChangeSignal>, WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::Unsigned(
            "this Salesforce org has no outbound_secret: its triggers are polled only",
        ));
    }
    let given = header(headers, PATH_SECRET)?;
    if !bool::from(given.as_bytes().ct_eq(secret.as_bytes())) {
        return Err(WebhookError::BadSignature);
    }
    let envelope = parse(body)?;
    if !same_org(&envelope.organization_id, organization_id) {
        return Err(WebhookError::BadSignature);
    }
    Ok(envelope
        .notifications
        .into_iter()
        .filter(|n| n.object == "Case" && !n.record_id.is_empty())
        .map(|n| ChangeSignal {
            origin: None,
            delivery_id: format!("salesforce:{}:{}", n.id, n.modstamp_ms),
            version: signal_version(n.modstamp_ms, &n.id),
            item_key: n.record_id,
            project: String::new(),
        })
        .collect())
}

/// The version a notification is queued with. SystemModstamp has one-second resolution,
/// and the node takes two signals of one item with one version for one: so each
/// notification (its own Id) gets its own place in the upper half of its second, apart
/// from the versions reads give (the stamp plus a few, see `client::Versions`), so it is
/// never mistaken for a state already sent. The Case is read fresh either way.
pub fn signal_version(modstamp_ms: i64, notification_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    notification_id.hash(&mut hasher);
    u64::try_from(modstamp_ms).unwrap_or(0) + 500 + hasher.finish() % 499
}

/// An envelope as Salesforce sends it, for the fake and tests.
pub fn envelope(
    organization_id: &str,
    action_id: &str,
    cases: &[(String, String, String)],
) -> String {
    let mut out = String::from(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" "#,
        r#"xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
        r#"<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#
    ));
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    out.push_str(&format!(
        "<OrganizationId>{}</OrganizationId><ActionId>{}</ActionId><SessionId xsi:nil=\"true\"/>",
        esc(organization_id),
        esc(action_id)
    ));
    for (notification_id, case_id, modstamp) in cases {
        out.push_str(&format!(
            "<Notification><Id>{}</Id><sObject xsi:type=\"sf:Case\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>{}</sf:Id><sf:SystemModstamp>{}</sf:SystemModstamp></sObject></Notification>",
            esc(notification_id),
            esc(case_id),
            esc(modstamp)
        ));
    }
    out.push_str("</notifications></soapenv:Body></soapenv:Envelope>");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ORG: &str = "00Dxx0000001gERERAY";

    fn with_secret(s: &str) -> Vec<(String, String)> {
        vec![(PATH_SECRET.to_string(), s.to_string())]
    }

    #[test]
    fn messages_are_checked_and_read() {
        let body = envelope(
            &ORG[..18],
            "04kxx0000000007EAA",
            &[(
                "04lxx0000000007EAA".into(),
                "500xx000000bpRKAAY".into(),
                "2026-11-23T10:14:01.000Z".into(),
            )],
        );
        let signals = verify(
            "s3cret",
            &ORG[..15],
            &with_secret("s3cret"),
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].item_key, "500xx000000bpRKAAY");
        let v = signals[0].version;
        assert!((1_795_428_841_500..1_795_428_842_000).contains(&v), "{v}");
        assert_ne!(signal_version(1_000, "04lA"), signal_version(1_000, "04lB"));
        let refused = [
            verify("s3cret", &ORG[..18], &with_secret("guess"), body.as_bytes()),
            verify(
                "s3cret",
                "00Dxx0000009999",
                &with_secret("s3cret"),
                body.as_bytes(),
            ),
            verify("s3cret", &ORG[..18], &[], body.as_bytes()),
            verify("", &ORG[..18], &with_secret(""), body.as_bytes()),
        ];
        for r in refused {
            assert!(r.is_err(), "{r:?}");
        }
        let dtd = format!("<!DOCTYPE x [<!ENTITY e \"boom\">]>{}", &body[38..]);
        assert!(verify("s3cret", ORG, &with_secret("s3cret"), dtd.as_bytes()).is_err());
        assert!(ACK.contains("<Ack>true</Ack>"));
    }
}
