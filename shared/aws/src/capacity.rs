//! DynamoDB's capacity rules, applied to what a node reads and writes: the item sizes
//! DynamoDB bills by, and the request units they cost. The operation counter uses them,
//! so the cost model (docs/aws-cost.md) is counted from real items, not assumed.

use crate::dynamo::Attr;
use std::collections::HashMap;

/// An item's size as DynamoDB counts it: each attribute's name plus its value (strings
/// and binaries by their bytes, numbers by about one byte per two significant digits
/// plus one, lists and maps with three bytes of overhead and one per element).
pub fn item_size(item: &HashMap<String, Attr>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &Attr) -> usize {
    match v {
        Attr::S(s) => s.len(),
        Attr::N(n) => number_size(n),
        Attr::B(b) => b.len(),
        Attr::Bool(_) | Attr::Null(_) => 1,
        Attr::Ss(items) => items.iter().map(String::len).sum(),
        Attr::Ns(items) => items.iter().map(|n| number_size(n)).sum(),
        Attr::Bs(items) => items.iter().map(Vec::len).sum(),
        Attr::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Attr::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

fn number_size(n: &str) -> usize {
    let digits = n
        .trim_start_matches(['-', '+'])
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// How a read was made: strongly consistent reads cost twice an eventually consistent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    Strong,
    Eventual,
}

impl Consistency {
    pub fn of(consistent_read: Option<bool>) -> Self {
        if consistent_read == Some(true) {
            Consistency::Strong
        } else {
            Consistency::Eventual
        }
    }
}

/// Read request units for one request that read `bytes` in all (a GetItem's item, or the
/// items a Query or Scan looked at): one per 4 KB, at least one, half when eventual.
pub fn read_units(bytes: usize, consistency: Consistency) -> f64 {
    let units = bytes.div_ceil(4_096).max(1) as f64;
    match consistency {
        Consistency::Strong => units,
        Consistency::Eventual => units / 2.0,
    }
}

/// Write request units for writing one item of `bytes`: one per 1 KB, at least one.
/// Items written in a transaction cost twice that.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1_024).max(1) as f64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn item(pairs: &[(&str, Attr)]) -> HashMap<String, Attr> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn item_sizes_follow_dynamodbs_rules() {
        let s = |v: &str| Attr::S(v.into());
        let n = |v: &str| Attr::N(v.into());
        let cases = [
            (item(&[("pk", s("twin#1"))]), 2 + 6),
            (item(&[("revision", n("12345"))]), 8 + 4),
            (item(&[("n", n("100"))]), 1 + 2),
            (item(&[("n", n("-0.5"))]), 1 + 2),
            (item(&[("b", Attr::Bool(true))]), 1 + 1),
            (
                item(&[("l", Attr::L(vec![s("ab"), s("c")]))]),
                1 + 3 + 3 + 2,
            ),
            (
                item(&[("m", Attr::M(item(&[("k", s("vv"))])))]),
                1 + 3 + 1 + 1 + 2,
            ),
            (item(&[]), 0),
        ];
        for (item, want) in cases {
            assert_eq!(item_size(&item), want, "{item:?}");
        }
    }

    #[test]
    fn units_round_up_per_request() {
        use Consistency::{Eventual, Strong};
        let cases = [
            (read_units(0, Strong), 1.0),
            (read_units(4_096, Strong), 1.0),
            (read_units(4_097, Strong), 2.0),
            (read_units(2_000, Eventual), 0.5),
            (read_units(9_000, Eventual), 1.5),
            (write_units(0), 1.0),
            (write_units(1_024), 1.0),
            (write_units(2_163), 3.0),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }
}
