//! The reads an item needs besides the issue: its comments (all pages) and whose
//! comments carry sync markers.

use super::GithubTracker;
use crate::mapping::{GhComment, SyncAuthor};
use twinsync_connector_kit::now_ms;
use twinsync_ports::PortResult;

impl GithubTracker {
    pub(super) async fn comments(&self, repo: &str, number: u64) -> PortResult<Vec<GhComment>> {
        let mut out = Vec::new();
        let mut url = Some(self.url(&format!(
            "/repos/{repo}/issues/{number}/comments?per_page=100"
        )));
        while let Some(u) = url {
            let (page, next) = self.get(&u).await?;
            out.extend(Self::parse::<Vec<GhComment>>(page)?);
            url = next;
        }
        Ok(out)
    }

    /// The account this connector writes as: the token's login (`GET /user`), or a GitHub
    /// App's `{slug}[bot]` (its installation cannot call `/user`).
    pub(super) async fn sync_author(&self) -> PortResult<&SyncAuthor> {
        self.sync_author
            .get_or_try_init(|| async {
                let app = self
                    .auth
                    .app_login(&self.http, &self.config.api_url, now_ms())
                    .await?;
                let login = match app {
                    Some(bot) => bot,
                    None => {
                        let (me, _) = self.get(&self.url("/user")).await?;
                        Self::parse::<crate::mapping::GhUser>(me)?.login
                    }
                };
                Ok(SyncAuthor::Login(login))
            })
            .await
    }
}
