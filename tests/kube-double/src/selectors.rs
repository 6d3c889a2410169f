//! Label and field selectors, parsed with the same grammar the API server accepts
//! (`a=b,c!=d,e in (x,y),f notin (z),g,!h`), so that a selector the real server would reject is
//! rejected here too instead of silently matching everything.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    pub fn parse(input: &str) -> ApiResult<Self> {
        let bad = |why: &str| ApiError::bad_request(format!("unable to parse requirement: {why}"));
        let mut reqs = Vec::new();
        let mut rest = input.trim();
        while !rest.is_empty() {
            // Split on the next top-level comma: commas inside `( … )` belong to set values.
            let mut depth = 0usize;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    ',' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let term = rest[..end].trim();
            rest = rest.get(end + 1..).unwrap_or("").trim();
            if term.is_empty() {
                return Err(bad("empty requirement"));
            }
            reqs.push(parse_term(term).ok_or_else(|| bad(term))?);
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }

    /// Matches against any label lookup (the store keeps labels flattened for fast lists).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|req| match req {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn parse_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    vals.iter().all(|v| valid_value(v)).then_some(vals)
}

fn parse_term(term: &str) -> Option<LabelReq> {
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key).then(|| LabelReq::NotExists(key.to_string()));
    }
    for (op, ctor) in [
        ("!=", LabelReq::NotEq as fn(String, String) -> LabelReq),
        ("==", LabelReq::Eq),
        ("=", LabelReq::Eq),
    ] {
        if let Some((k, v)) = term.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            return (valid_key(k) && valid_value(v)).then(|| ctor(k.to_string(), v.to_string()));
        }
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next()?.trim();
    let rest = words.next().map(str::trim);
    if !valid_key(key) {
        return None;
    }
    match rest {
        None => Some(LabelReq::Exists(key.to_string())),
        Some(r) => {
            if let Some(set) = r.strip_prefix("notin") {
                Some(LabelReq::NotIn(key.to_string(), parse_set(set)?))
            } else if let Some(set) = r.strip_prefix("in") {
                Some(LabelReq::In(key.to_string(), parse_set(set)?))
            } else {
                None
            }
        }
    }
}

/// Field selector: only equality on the fields the server indexes for that resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(Vec<String>, bool, String)>);

impl FieldSelector {
    /// `allowed` lists the extra fields (beyond `metadata.name`/`metadata.namespace`) this resource
    /// supports; the real server answers 400 for any other field, and so do we.
    pub fn parse(input: &str, allowed: &[&str]) -> ApiResult<Self> {
        let mut reqs = Vec::new();
        for term in input.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, negate, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: {term}"
                )));
            };
            let field = field.trim();
            if !(field == "metadata.name"
                || field == "metadata.namespace"
                || allowed.contains(&field))
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            let path = field.split('.').map(str::to_string).collect();
            reqs.push((path, negate, value.trim().to_string()));
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, negate, want)| {
            let mut cur = Some(obj);
            for seg in path {
                cur = cur.and_then(|v| v.get(seg));
            }
            let have = match cur {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (have == *want) != *negate
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn full_label_grammar() {
        let l = labels(json!({"app": "web", "tier": "front", "env": "prod"}));
        let ok = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
        assert!(ok("app=web"));
        assert!(ok("app==web,tier!=back"));
        assert!(ok("env in (prod, staging)"));
        assert!(!ok("env notin (prod)"));
        assert!(ok("tier"));
        assert!(ok("!missing"));
        assert!(!ok("!app"));
        assert!(ok("missing notin (x)"));
        assert!(!ok("missing in (x)"));
        assert!(ok(""));
    }

    #[test]
    fn rejects_garbage() {
        assert!(LabelSelector::parse("app in prod").is_err());
        assert!(LabelSelector::parse("a=b,,c").is_err());
        assert!(FieldSelector::parse("spec.foo=bar", &[]).is_err());
    }

    #[test]
    fn field_selector_eq_and_neq() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": "Running"}});
        let f = FieldSelector::parse("metadata.name=a,status.phase!=Pending", &["status.phase"]);
        assert!(f.unwrap().matches(&obj));
        assert!(
            !FieldSelector::parse("metadata.namespace=x", &[])
                .unwrap()
                .matches(&obj)
        );
    }
}
