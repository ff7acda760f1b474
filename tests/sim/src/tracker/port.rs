//! The simulated tracker as the node sees it: the `Tracker` port over the calls above,
//! each one begun (where a fault may meet it) and answered in the seed's order.

use super::{Call, SimTracker, bad, found};
use async_trait::async_trait;
use twinsync_core::{Attachment, Clock, Comment, ConnectorKind, Filter, Item, ItemUpdate, User};
use twinsync_ports::{
    AttachmentAdded, ChangeSignal, CommentAdded, ItemPage, PortError, PortResult, Preconditions,
    Tracker, WebhookError, WriteAnswer,
};

#[async_trait]
impl Tracker for SimTracker {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sandbox
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Attachments are fetched only from the source tracker's host: this one.
    fn url(&self) -> &str {
        &self.base_url
    }

    fn write_answer(&self) -> WriteAnswer {
        WriteAnswer::WholeItem
    }

    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        self.begin(Call::Read).await?;
        Ok(Some(self.projects.iter().any(|p| p.key == project)))
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.begin(Call::Read).await?;
        Ok(self.state().items.get(key).cloned())
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let fault = self.begin(Call::Write).await?;
        let created = self.create(project, item, origin)?;
        self.answer(fault, created).await
    }

    /// As the sandbox's: a 429 comes before anything is done.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        let updated = self.update(key, update)?;
        self.answer(fault, updated).await
    }

    fn preconditions(&self) -> Preconditions {
        Preconditions::UpdatesAndAdds
    }

    /// As the sandbox server's `If-Match`: a person's edit that lands first moves the
    /// version on, and the update is refused.
    async fn update_item_if(
        &self,
        key: &str,
        version: u64,
        update: &ItemUpdate,
    ) -> PortResult<Item> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        self.still_at(key, version)?;
        let updated = self.update(key, update)?;
        self.answer(fault, updated).await
    }

    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        let comment = self.comment(key, body, author, origin)?;
        self.answer(fault, comment).await
    }

    /// As the sandbox server's: refused once the item moved past `version`, answered
    /// with the item as the comment left it.
    async fn add_comment_if(
        &self,
        key: &str,
        version: u64,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<CommentAdded> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        self.still_at(key, version)?;
        let comment = self.comment(key, body, author, origin)?;
        let item = found(&self.state(), key)?;
        self.answer(
            fault,
            CommentAdded {
                comment,
                item: Some(item),
            },
        )
        .await
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        let fault = self.begin(Call::Write).await?;
        if body.trim().is_empty() {
            return Err(bad("comment body is required"));
        }
        self.spring(key);
        let now = self.clock.now_ms();
        {
            let mut s = self.state();
            let mut item = found(&s, key)?;
            let c = item
                .comments
                .iter_mut()
                .find(|c| c.id == comment_id)
                .ok_or_else(|| PortError::NotFound(format!("no comment {comment_id} on {key}")))?;
            if c.body != body {
                c.body = body.into();
                Self::record(&mut s, item, now);
            }
        }
        self.answer(fault, ()).await
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        let stored = self.attach_file(key, attachment)?;
        self.answer(fault, stored).await
    }

    /// As the sandbox server's: refused once the item moved past `version`, answered
    /// with the item as the attachment left it.
    async fn add_attachment_if(
        &self,
        key: &str,
        version: u64,
        attachment: &Attachment,
    ) -> PortResult<AttachmentAdded> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        self.still_at(key, version)?;
        let stored = self.attach_file(key, attachment)?;
        let item = found(&self.state(), key)?;
        self.answer(
            fault,
            AttachmentAdded {
                attachment: stored,
                item: Some(item),
            },
        )
        .await
    }

    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        self.begin(Call::Read).await?;
        Ok(self
            .state()
            .items
            .values()
            .find(|i| i.project == project && i.origin.as_deref() == Some(origin))
            .cloned())
    }

    /// Oldest first by (updated, key), a page of 100, the cursor `ms:key` as the
    /// sandbox's.
    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        self.begin(Call::Read).await?;
        let filter = match query.trim() {
            "" => None,
            q => Some(Filter::parse(q).map_err(|e| bad(format!("bad filter: {e}")))?),
        };
        let after = match &page {
            Some(c) => {
                let (ms, key) = c.split_once(':').ok_or_else(|| bad("bad cursor"))?;
                (
                    ms.parse::<i64>().map_err(|_| bad("bad cursor"))?,
                    key.to_string(),
                )
            }
            None => (i64::MIN, String::new()),
        };
        let mut items: Vec<Item> = self
            .state()
            .items
            .values()
            .filter(|i| i.updated_ms >= since_ms)
            .filter(|i| (i.updated_ms, i.key.clone()) > after)
            .filter(|i| filter.as_ref().is_none_or(|f| f.matches(i)))
            .cloned()
            .collect();
        items.sort_by(|a, b| (a.updated_ms, &a.key).cmp(&(b.updated_ms, &b.key)));
        let next = (items.len() > 100).then(|| {
            let last = &items[99];
            format!("{}:{}", last.updated_ms, last.key)
        });
        items.truncate(100);
        Ok(ItemPage { items, next })
    }

    /// The simulation hands signals to ingest itself; a signed delivery never comes.
    fn verify_webhook(
        &self,
        _headers: &[(String, String)],
        _body: &[u8],
        _now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        Err(WebhookError::Unsigned(
            "the simulated tracker sends no HTTP",
        ))
    }
}
