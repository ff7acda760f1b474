//! `twinsync demo`: a real two-way sync between two trackers, shown step by step.
//!
//! Ten pairs: two sandboxes ([`sandbox`], the default), a sandbox and a real Redmine
//! ([`redmine`]), the fake Jira and the fake GitHub ([`jira_github`]), the fake Azure
//! DevOps and a sandbox ([`ado`]), the fake ServiceNow with a sandbox, the fake Jira or
//! the fake Azure DevOps ([`servicenow`]), the fake Zendesk with the fake Jira or a
//! sandbox ([`zendesk`]), and the fake Salesforce with a sandbox or the fake GitHub
//! ([`salesforce`]). Each pair is a
//! module of its own over [`common`]; this module only picks one and prints its report.

pub mod ado;
mod ca;
mod common;
pub mod jira_github;
pub mod redmine;
mod runner;
pub mod salesforce;
pub mod sandbox;
pub mod servicenow;
pub mod zendesk;

pub(crate) use common::for_each_limited;
pub use common::{
    CONNECTION, DemoArgs, DemoReport, PROJECT_A, PROJECT_B, Pair, PairParts, Step, create_item,
    item_body, pair_parts, send_change,
};
pub use sandbox::{Pairing, compare, config, pair_up, pair_up_on, scenario};

use comfy_table::Table;
use std::process::ExitCode;
use twinsync_local::process::ProcessOptions;

pub async fn run(args: DemoArgs) -> Result<ExitCode, String> {
    let report = match args.pair {
        Pair::SandboxSandbox => scenario(&args, &ProcessOptions::default()).await?,
        Pair::RedmineSandbox => redmine::scenario(&args).await?,
        Pair::JiraGithub => jira_github::scenario(&args).await?,
        Pair::AdoSandbox => ado::scenario(&args).await?,
        Pair::ServicenowSandbox | Pair::JiraServicenow | Pair::AdoServicenow => {
            servicenow::scenario(&args).await?
        }
        Pair::ZendeskJira => zendesk::scenario(&args, zendesk::Other::Jira).await?,
        Pair::ZendeskSandbox => zendesk::scenario(&args, zendesk::Other::Sandbox).await?,
        Pair::SalesforceSandbox | Pair::SalesforceGithub => salesforce::scenario(&args).await?,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        let mut table = Table::new();
        table.set_header(["step", "ms", "what happened"]);
        for s in &report.steps {
            table.add_row([s.step.clone(), s.ms.to_string(), s.detail.clone()]);
        }
        println!("{table}");
        let mut summary = Table::new();
        summary.set_header([
            "converged",
            "A→B items",
            "B→A items",
            "comments synced",
            "duplicates",
            "conflicts",
            "elapsed ms",
            "items/s",
        ]);
        summary.add_row([
            report.converged.to_string(),
            report.items_a_to_b.to_string(),
            report.items_b_to_a.to_string(),
            report.comments_synced.to_string(),
            report.duplicates.to_string(),
            report.conflicts.to_string(),
            report.elapsed_ms.to_string(),
            format!("{:.1}", report.items_per_second),
        ]);
        println!("{summary}");
        for m in &report.mismatches {
            println!("mismatch: {m}");
        }
    }
    Ok(if report.converged && report.duplicates == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
