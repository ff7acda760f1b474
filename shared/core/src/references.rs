//! Cross-references in text: keys and links of items (`DEMO-3`, `#12`, `acme/shop#12`,
//! a tracker URL) found in a replica's description and comments, so the incoming side
//! can write the twin's key or URL instead. Only what the other side's text says is
//! rewritten, in one pass (a replacement is never matched again), and a reference
//! without a twin stays as it was. The other side does the same on the way back.

use regex_lite::Regex;
use std::sync::OnceLock;

/// A reference in a text: where it is, and the keys it may stand for on the side that
/// wrote it (the first that has a twin wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub start: usize,
    pub end: usize,
    /// A whole URL: replaced by the twin's URL, and only when it is the item's own URL.
    pub url: Option<String>,
    pub candidates: Vec<String>,
}

/// The two patterns, compiled once (they are constants that compile).
fn patterns() -> Option<&'static (Regex, Regex)> {
    static P: OnceLock<Option<(Regex, Regex)>> = OnceLock::new();
    P.get_or_init(|| {
        let url = Regex::new(r#"https?://[^\s<>()\[\]"'`]+"#).ok()?;
        // owner/repo#12, ABC-12, #12.
        let key =
            Regex::new(r"(?:\b[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+#\d+|\b[A-Z][A-Z0-9_]+-\d+\b|#\d+\b)")
                .ok()?;
        Some((url, key))
    })
    .as_ref()
}

/// The references in `text`. `repo` is the other side's `owner/repo` (from its item's
/// key), so a bare `#12` also stands for `owner/repo#12`.
pub fn find(text: &str, repo: Option<&str>) -> Vec<Reference> {
    let Some((url, key)) = patterns() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut urls: Vec<(usize, usize)> = Vec::new();
    for m in url.find_iter(text) {
        let candidates: Vec<String> = key
            .find_iter(m.as_str())
            .flat_map(|k| key_candidates(k.as_str(), repo))
            .chain(trailing_number(m.as_str()))
            .collect();
        urls.push((m.start(), m.end()));
        if !candidates.is_empty() {
            out.push(Reference {
                start: m.start(),
                end: m.end(),
                url: Some(m.as_str().to_string()),
                candidates,
            });
        }
    }
    for m in key.find_iter(text) {
        if urls.iter().any(|(s, e)| m.start() >= *s && m.start() < *e) {
            continue;
        }
        out.push(Reference {
            start: m.start(),
            end: m.end(),
            url: None,
            candidates: key_candidates(m.as_str(), repo),
        });
    }
    out.sort_by_key(|r| r.start);
    out
}

fn key_candidates(token: &str, repo: Option<&str>) -> Vec<String> {
    match token.strip_prefix('#') {
        Some(number) => {
            let mut c = vec![number.to_string()];
            if let Some(repo) = repo {
                c.insert(0, format!("{repo}#{number}"));
            }
            c
        }
        None => vec![token.to_string()],
    }
}

/// A URL that ends in a number (`.../issues/12`, `.../_workitems/edit/7`) may name an
/// item whose key is the number.
fn trailing_number(url: &str) -> Option<String> {
    let last = url.trim_end_matches('/').rsplit('/').next()?;
    (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit())).then(|| last.to_string())
}

/// `text` with each reference that `replace` (given its index in `refs`) gives a new
/// text for replaced, in one pass.
pub fn rewrite(
    text: &str,
    refs: &[Reference],
    replace: impl Fn(usize, &Reference) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (i, r) in refs.iter().enumerate() {
        if r.start < at {
            continue;
        }
        if let Some(new) = replace(i, r) {
            out.push_str(&text[at..r.start]);
            out.push_str(&new);
            at = r.end;
        }
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn references_are_found_and_rewritten_once() {
        // The other side's key -> (our key as our tracker writes it, our URL).
        let twins: HashMap<&str, (&str, &str)> = [
            ("SUPPORT-3", ("DEMO-7", "https://a.example/DEMO-7")),
            ("acme/shop#12", ("DEMO-8", "https://a.example/DEMO-8")),
            ("45", ("DEMO-9", "https://a.example/DEMO-9")),
            ("DEMO-7", ("DEMO-1", "https://a.example/DEMO-1")),
        ]
        .into();
        let urls: HashMap<&str, &str> = [
            ("https://b.example/browse/SUPPORT-3", "SUPPORT-3"),
            ("https://github.com/acme/shop/issues/12", "acme/shop#12"),
        ]
        .into();
        let cases = [
            ("see SUPPORT-3 and SUPPORT-4", "see DEMO-7 and SUPPORT-4"),
            ("fixed by #12, not #13", "fixed by DEMO-8, not #13"),
            ("acme/shop#12 again", "DEMO-8 again"),
            ("Redmine #45.", "Redmine DEMO-9."),
            // A replacement is not matched again: DEMO-7 here is the other side's.
            ("SUPPORT-3 DEMO-7", "DEMO-7 DEMO-1"),
            (
                "<https://b.example/browse/SUPPORT-3>",
                "<https://a.example/DEMO-7>",
            ),
            (
                "https://github.com/acme/shop/issues/12",
                "https://a.example/DEMO-8",
            ),
            // A URL that is not an item's own link stays whole.
            (
                "https://b.example/browse/SUPPORT-3?focus=1",
                "https://b.example/browse/SUPPORT-3?focus=1",
            ),
            (
                "no refs here, v1-2 or ISO-8601",
                "no refs here, v1-2 or ISO-8601",
            ),
            ("", ""),
        ];
        for (text, want) in cases {
            let refs = find(text, Some("acme/shop"));
            let got = rewrite(text, &refs, |_, r| {
                let key = match &r.url {
                    Some(u) => *urls.get(u.as_str())?,
                    None => {
                        *r.candidates
                            .iter()
                            .find_map(|c| twins.get_key_value(c.as_str()))?
                            .0
                    }
                };
                let (local, local_url) = twins.get(key)?;
                Some(if r.url.is_some() { local_url } else { local }.to_string())
            });
            assert_eq!(got, want, "{text}");
        }
    }
}
