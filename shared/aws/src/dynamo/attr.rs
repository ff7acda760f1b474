//! DynamoDB's attribute values as its JSON protocol writes them: `{"S": "text"}`,
//! `{"N": "12"}`, `{"B": "<base64>"}`, and so on.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Attr {
    S(String),
    /// A number, as the decimal text DynamoDB keeps.
    N(String),
    #[serde(with = "bytes")]
    B(Vec<u8>),
    #[serde(rename = "BOOL")]
    Bool(bool),
    #[serde(rename = "NULL")]
    Null(bool),
    #[serde(rename = "SS")]
    Ss(Vec<String>),
    #[serde(rename = "NS")]
    Ns(Vec<String>),
    #[serde(rename = "BS", with = "byte_list")]
    Bs(Vec<Vec<u8>>),
    L(Vec<Attr>),
    M(HashMap<String, Attr>),
}

/// Binary values travel base64-encoded.
mod bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

mod byte_list {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| STANDARD.encode(b)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|t| STANDARD.decode(t).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn values_read_and_write_as_dynamodb_json() {
        let cases = [
            (Attr::S("twin#1".into()), json!({"S": "twin#1"})),
            (Attr::N("12".into()), json!({"N": "12"})),
            (Attr::B(vec![0, 255, 7]), json!({"B": "AP8H"})),
            (Attr::Bool(true), json!({"BOOL": true})),
            (Attr::Null(true), json!({"NULL": true})),
            (Attr::Ss(vec!["a".into()]), json!({"SS": ["a"]})),
            (Attr::Ns(vec!["1".into()]), json!({"NS": ["1"]})),
            (Attr::Bs(vec![vec![1]]), json!({"BS": ["AQ=="]})),
            (
                Attr::L(vec![Attr::S("x".into())]),
                json!({"L": [{"S": "x"}]}),
            ),
            (
                Attr::M(HashMap::from([("k".to_string(), Attr::N("1".into()))])),
                json!({"M": {"k": {"N": "1"}}}),
            ),
        ];
        for (attr, wire) in cases {
            assert_eq!(serde_json::to_value(&attr).unwrap(), wire);
            assert_eq!(serde_json::from_value::<Attr>(wire).unwrap(), attr);
        }
        assert!(serde_json::from_value::<Attr>(json!({"B": "not base64!"})).is_err());
        assert!(serde_json::from_value::<Attr>(json!({"X": "?"})).is_err());
    }
}
