//! What a JQL clause's field means and whether Jira takes the clause: the field by its
//! JQL name (system fields, `cf[N]` or a custom field's name, `issue.property[k].path`
//! only when an app indexes it), the operators its type supports, and its values.
//! Messages are Jira's, from Atlassian's "Parse JQL query" examples
//! (<https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-jql/#api-rest-api-3-jql-parse-post>)
//! and the fields and operators reference
//! (<https://support.atlassian.com/jira-software-cloud/docs/jql-fields/>,
//! <https://support.atlassian.com/jira-software-cloud/docs/jql-operators/>).

use super::parse::{Clause, Op, Operand};
use crate::jira::state::{Fake, ISSUE_TYPES, PRIORITIES, STATUSES};

/// A field a clause can name.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::jira) enum Field {
    Project,
    Key,
    Text(Text),
    Status,
    Priority,
    IssueType,
    Labels,
    Person(Person),
    Date(When),
    /// A custom field by id: a select (`option`) or a text field.
    Custom {
        id: String,
        option: bool,
    },
    /// An indexed entity property and the path in its value.
    Property {
        key: String,
        path: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::jira) enum Text {
    Summary,
    Description,
    Comment,
    /// `text`: every text field at once.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::jira) enum Person {
    Assignee,
    Reporter,
    Creator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::jira) enum When {
    Created,
    Updated,
}

/// Jira's answer to a field nobody may search: unknown, hidden, or an entity property no
/// app indexes.
fn unknown(name: &str) -> String {
    format!("Field '{name}' does not exist or you do not have permission to view it.")
}

/// The field `name` stands for.
pub(in crate::jira) fn resolve(fake: &Fake, name: &str) -> Result<Field, String> {
    let lower = name.to_ascii_lowercase();
    let system = match lower.as_str() {
        "project" => Field::Project,
        "key" | "issuekey" | "id" => Field::Key,
        "summary" => Field::Text(Text::Summary),
        "description" => Field::Text(Text::Description),
        "comment" => Field::Text(Text::Comment),
        "text" => Field::Text(Text::All),
        "status" => Field::Status,
        "priority" => Field::Priority,
        "issuetype" | "type" => Field::IssueType,
        "labels" => Field::Labels,
        "assignee" => Field::Person(Person::Assignee),
        "reporter" => Field::Person(Person::Reporter),
        "creator" => Field::Person(Person::Creator),
        "created" | "createddate" => Field::Date(When::Created),
        "updated" | "updateddate" => Field::Date(When::Updated),
        _ if lower.starts_with("issue.property[") => return property(fake, name),
        _ => return custom(fake, name, &lower),
    };
    Ok(system)
}

/// A custom field by `cf[N]` or by its name.
fn custom(fake: &Fake, name: &str, lower: &str) -> Result<Field, String> {
    let by_number = lower
        .strip_prefix("cf[")
        .and_then(|n| n.strip_suffix(']'))
        .map(|n| format!("customfield_{n}"));
    fake.options
        .custom_fields
        .iter()
        .find(|(id, field_name, _)| {
            by_number.as_deref() == Some(id.as_str()) || field_name.eq_ignore_ascii_case(name)
        })
        .map(|(id, _, kind)| Field::Custom {
            id: id.clone(),
            option: kind == "option",
        })
        .ok_or_else(|| unknown(name))
}

/// `issue.property[key].path`, searchable only when an app's descriptor indexes it (a
/// Connect `jiraEntityProperties` or Forge `jira:entityProperty` module): Jira Cloud knows
/// no other property in JQL
/// (<https://developer.atlassian.com/cloud/jira/platform/modules/entity-property/>).
fn property(fake: &Fake, name: &str) -> Result<Field, String> {
    let rest = &name["issue.property[".len()..];
    let (key, path) = rest
        .split_once(']')
        .map(|(k, p)| (k.trim_matches('"'), p.trim_start_matches('.')))
        .ok_or_else(|| unknown(name))?;
    let indexed = format!("{key}.{path}");
    if fake.options.indexed_properties.contains(&indexed) {
        Ok(Field::Property {
            key: key.to_string(),
            path: path.to_string(),
        })
    } else {
        Err(unknown(name))
    }
}

/// The operators a field's type supports (the fields reference's "Supported operators").
fn operators(field: &Field) -> &'static [Op] {
    use Op::*;
    match field {
        Field::Text(_) | Field::Custom { option: false, .. } => &[Like, NotLike, Is, IsNot],
        Field::Key => &[Eq, Ne, In, NotIn, Lt, Le, Gt, Ge],
        Field::Date(_) => &[Eq, Ne, In, NotIn, Lt, Le, Gt, Ge, Is, IsNot],
        Field::Project => &[Eq, Ne, In, NotIn],
        _ => &[Eq, Ne, In, NotIn, Is, IsNot],
    }
}

/// Refuses a clause as Jira does: an operator the field does not support, an operand of
/// the wrong shape, a function the field does not take, a value that does not exist.
/// `projects` are the projects the caller may browse.
pub(in crate::jira) fn check(
    field: &Field,
    clause: &Clause,
    projects: &[String],
) -> Result<(), String> {
    let name = &clause.field;
    let op = clause.op;
    // The operand's shape is checked first, as Jira's own example shows (`summary in test`
    // is refused for its non-list value, not for its operator).
    match (&clause.operand, op) {
        (Operand::Value(v), Op::In | Op::NotIn) => {
            return Err(format!(
                "Operator '{}' does not support the non-list value '\"{v}\"' for field '{name}'.",
                op.shown()
            ));
        }
        (Operand::List(_), op) if !matches!(op, Op::In | Op::NotIn) => {
            return Err(format!(
                "Operator '{}' does not support the list value for field '{name}'.",
                op.shown()
            ));
        }
        (Operand::Value(_) | Operand::Function(_), Op::Is | Op::IsNot) => {
            return Err(format!(
                "The operator '{}' can only be used with the EMPTY value for field '{name}'.",
                op.shown()
            ));
        }
        _ => {}
    }
    if !operators(field).contains(&op) {
        return Err(format!(
            "The operator '{}' is not supported by the '{name}' field.",
            op.shown()
        ));
    }
    match &clause.operand {
        Operand::Function(f) => function(field, name, f),
        Operand::Value(v) => value(field, name, v, projects),
        Operand::List(vs) => vs.iter().try_for_each(|v| value(field, name, v, projects)),
        Operand::Empty => Ok(()),
    }
}

/// The functions the fake knows: `currentUser()` for people, `now()` for dates.
fn function(field: &Field, name: &str, f: &str) -> Result<(), String> {
    match (field, f.to_ascii_lowercase().as_str()) {
        (Field::Person(_), "currentuser") | (Field::Date(_), "now") => Ok(()),
        _ => Err(format!(
            "Unable to find JQL function '{f}()' for the field '{name}'."
        )),
    }
}

/// Whether `v` is a value of the field Jira knows.
fn value(field: &Field, name: &str, v: &str, projects: &[String]) -> Result<(), String> {
    let known = match field {
        Field::Project => projects.iter().any(|p| p.eq_ignore_ascii_case(v)),
        Field::Status => STATUSES
            .iter()
            .any(|(id, n, _, _)| *id == v || n.eq_ignore_ascii_case(v)),
        Field::Priority => PRIORITIES
            .iter()
            .any(|(id, n)| *id == v || n.eq_ignore_ascii_case(v)),
        Field::IssueType => ISSUE_TYPES
            .iter()
            .any(|(id, n, _, _)| *id == v || n.eq_ignore_ascii_case(v)),
        Field::Date(_) => {
            return super::eval::time_of(v, 0)
                .map(|_| ())
                .ok_or_else(|| bad_date(name, v));
        }
        _ => true,
    };
    if known {
        Ok(())
    } else {
        Err(format!(
            "The value '{v}' does not exist for the field '{name}'."
        ))
    }
}

fn bad_date(name: &str, v: &str) -> String {
    format!(
        "Date value '{v}' for field '{name}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )
}
