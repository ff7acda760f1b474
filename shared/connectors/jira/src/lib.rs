//! The Jira Cloud connector. Jira keeps descriptions and comments in the Atlassian
//! Document Format (ADF, a JSON tree); the domain keeps Markdown. `adf` converts both ways
//! with a Markdown parser and a Markdown writer made for the job (`pulldown-cmark`,
//! `pulldown-cmark-to-cmark`) on either side of an event stream.
//!
//! The REST client, webhooks, transitions and the fake Jira come with the rest of the
//! Jira work; this crate starts with the format, which everything else builds on.

pub mod adf;
