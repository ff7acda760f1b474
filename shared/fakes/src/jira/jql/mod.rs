//! The fake Jira's JQL: a where-part parsed as Jira parses it (`parse`), each clause
//! checked as Jira checks it (`fields`: the field exists and the caller may search it,
//! its type supports the operator, its values exist), then evaluated on the issues
//! (`eval`). A query is checked once, for its caller and instant, and then matched
//! against every issue.

mod eval;
mod fields;
mod parse;

use super::state::{Data, Fake, IssueData, account_of};
use eval::Arg;
use fields::Field;
use parse::{Expr, Op, Operand};

/// A checked condition, ready to match issues.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Test { field: Field, op: Op, arg: Arg },
}

/// A where-part checked for one caller at one instant.
pub(super) struct Query {
    cond: Cond,
}

impl Query {
    /// Reads the where-part `jql` (no `ORDER BY`) as Jira does for the account `caller`
    /// (an email) at `now`; the error is Jira's 400 message.
    pub(super) fn new(
        fake: &Fake,
        data: &Data,
        jql: &str,
        caller: &str,
        now: i64,
    ) -> Result<Query, String> {
        let projects: Vec<String> = data
            .projects
            .keys()
            .filter(|p| fake.can_browse(caller, p))
            .cloned()
            .collect();
        let context = Context {
            fake,
            me: account_of(data, caller),
            projects,
            now,
        };
        let cond = context.cond(parse::parse(jql)?)?;
        Ok(Query { cond })
    }

    pub(super) fn matches(&self, data: &Data, issue: &IssueData) -> bool {
        self.cond.holds(data, issue)
    }
}

/// Whether `issue` matches `jql` for the API user (the first account), as a webhook's
/// JQL filter is read; the error is Jira's 400 message.
pub(super) fn matches(
    fake: &Fake,
    data: &Data,
    jql: &str,
    issue: &IssueData,
    now: i64,
) -> Result<bool, String> {
    let owner = fake
        .options
        .accounts
        .first()
        .map(|(e, _)| e.as_str())
        .unwrap_or("");
    Ok(Query::new(fake, data, jql, owner, now)?.matches(data, issue))
}

/// What checking a query needs: the fake's fields, the caller's account id, the projects
/// it may browse, and the instant relative dates count from.
struct Context<'a> {
    fake: &'a Fake,
    me: String,
    projects: Vec<String>,
    now: i64,
}

impl Context<'_> {
    fn cond(&self, e: Expr) -> Result<Cond, String> {
        let all = |list: Vec<Expr>| -> Result<Vec<Cond>, String> {
            list.into_iter().map(|e| self.cond(e)).collect()
        };
        Ok(match e {
            Expr::And(list) => Cond::And(all(list)?),
            Expr::Or(list) => Cond::Or(all(list)?),
            Expr::Not(inner) => Cond::Not(Box::new(self.cond(*inner)?)),
            Expr::Clause(clause) => {
                let field = fields::resolve(self.fake, &clause.field)?;
                fields::check(&field, &clause, &self.projects)?;
                let arg = self.arg(&field, clause.operand);
                Cond::Test {
                    field,
                    op: clause.op,
                    arg,
                }
            }
        })
    }

    /// A checked operand as the evaluation takes it: functions called, dates as instants.
    fn arg(&self, field: &Field, operand: Operand) -> Arg {
        let values = match operand {
            Operand::Empty => return Arg::Empty,
            Operand::Value(v) => vec![v],
            Operand::List(vs) => vs,
            Operand::Function(f) if f.eq_ignore_ascii_case("now") => {
                return Arg::Times(vec![self.now]);
            }
            Operand::Function(_) => vec![self.me.clone()],
        };
        match field {
            Field::Date(_) => Arg::Times(
                values
                    .iter()
                    .filter_map(|v| eval::time_of(v, self.now))
                    .collect(),
            ),
            _ => Arg::Values(values),
        }
    }
}
