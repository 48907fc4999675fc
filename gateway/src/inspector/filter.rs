//! The query parameters of the REST API and the live stream: filters (feature, action, outcome,
//! publisher source, instance, event id, time range, text search) and paging. Unknown or
//! malformed parameters are errors with stable lowercase messages, so a typo in someone's CI
//! check fails loudly instead of matching everything.

use super::entry::{Content, Entry, Field, OutcomeKind, Summary};

/// Largest `limit` (list) or `backlog` (stream).
pub const MAX_PAGE: usize = 1000;
/// Default `limit` of the list.
pub const DEFAULT_LIMIT: usize = 100;
/// Longest accepted value of a text parameter, in bytes.
const MAX_PARAM_BYTES: usize = 1024;

/// A query parameter the API refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A parameter this endpoint does not know.
    #[error("unknown query parameter {0:?}; known: {1}")]
    Unknown(String, &'static str),
    /// A parameter given twice (only `outcome` may repeat).
    #[error("query parameter {0:?} given more than once")]
    Repeated(String),
    /// `outcome` is not one of the four names.
    #[error(
        "unknown outcome {0:?}: expected published, rejected, dropped_oversized or publish_failed"
    )]
    Outcome(String),
    /// `since`/`until` is neither RFC 3339 nor milliseconds since the epoch.
    #[error(
        "{0} {1:?} is not a time: expected RFC 3339 (2024-07-01T12:34:56Z) or milliseconds since the Unix epoch"
    )]
    Time(&'static str, String),
    /// A number out of range or malformed.
    #[error("{0} {1:?} must be an integer from {2} to {3}")]
    Number(&'static str, String, u64, u64),
    /// A boolean that is not `true`/`false`/`1`/`0`.
    #[error("{0} {1:?} must be true or false")]
    Bool(&'static str, String),
    /// A value longer than the API accepts.
    #[error("{0} is longer than {MAX_PARAM_BYTES} bytes")]
    TooLong(String),
}

/// Matches a feature or action: exact, or a prefix when the pattern ends with `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(s: &str) -> Self {
        match s.strip_suffix('*') {
            Some(p) => Pattern::Prefix(p.to_string()),
            None => Pattern::Exact(s.to_string()),
        }
    }

    fn matches(&self, v: &str) -> bool {
        match self {
            Pattern::Exact(p) => v == p,
            Pattern::Prefix(p) => v.starts_with(p.as_str()),
        }
    }
}

/// Which entries a request wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    outcomes: Option<[bool; 4]>,
    feature: Option<Pattern>,
    action: Option<Pattern>,
    source: Option<String>,
    instance: Option<String>,
    event_id: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// Lowercased ASCII needle of the text search.
    text: Option<Vec<u8>>,
}

/// The parsed query of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The filter.
    pub filter: Filter,
    /// List: most entries returned. Stream: most past entries sent before live ones.
    pub limit: usize,
    /// Only entries with a smaller sequence number (paging backwards).
    pub before: Option<u64>,
    /// Only entries with a larger sequence number.
    pub after: Option<u64>,
    /// Include attributes, the decoded event, metadata and body.
    pub full: bool,
    /// Stream: send `stats` events every second.
    pub stats: bool,
}

/// The filter parameters every endpoint accepts.
const FILTER_PARAMS: &[&str] = &[
    "outcome", "feature", "action", "source", "instance", "eventId", "since", "until", "q",
];

/// Which endpoint parses a query (each knows a few more parameters than the filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /inspector/api/events`.
    List,
    /// `GET /inspector/api/stream`.
    Stream,
    /// `GET /inspector/api/summary`.
    Summary,
}

impl Endpoint {
    fn extra(self) -> &'static [&'static str] {
        match self {
            Endpoint::List => &["limit", "before", "after", "full"],
            Endpoint::Stream => &["backlog", "after", "full", "stats"],
            Endpoint::Summary => &[],
        }
    }

    fn known(self) -> &'static str {
        match self {
            Endpoint::List => {
                "outcome, feature, action, source, instance, eventId, since, until, q, limit, before, after, full"
            }
            Endpoint::Stream => {
                "outcome, feature, action, source, instance, eventId, since, until, q, backlog, after, full, stats"
            }
            Endpoint::Summary => {
                "outcome, feature, action, source, instance, eventId, since, until, q"
            }
        }
    }
}

fn parse_time(name: &'static str, v: &str) -> Result<i64, ParamError> {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().map_err(|_| ParamError::Time(name, v.to_string()));
    }
    let ts = telemetry_core::json::timestamp_from_rfc3339(v)
        .map_err(|_| ParamError::Time(name, v.to_string()))?;
    Ok(ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000)
}

fn parse_number(name: &'static str, v: &str, min: u64, max: u64) -> Result<u64, ParamError> {
    v.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ParamError::Number(name, v.to_string(), min, max))
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool, ParamError> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ParamError::Bool(name, v.to_string())),
    }
}

impl Query {
    /// Parses the `(name, value)` pairs of a query string for an endpoint.
    pub fn parse(pairs: &[(String, String)], endpoint: Endpoint) -> Result<Query, ParamError> {
        let mut q = Query {
            limit: match endpoint {
                Endpoint::List => DEFAULT_LIMIT,
                _ => 0,
            },
            stats: true,
            ..Query::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let name = name.as_str();
            if !FILTER_PARAMS.contains(&name) && !endpoint.extra().contains(&name) {
                return Err(ParamError::Unknown(name.to_string(), endpoint.known()));
            }
            if name != "outcome" {
                if seen.contains(&name) {
                    return Err(ParamError::Repeated(name.to_string()));
                }
                seen.push(name);
            }
            if value.len() > MAX_PARAM_BYTES {
                return Err(ParamError::TooLong(name.to_string()));
            }
            let f = &mut q.filter;
            match name {
                "outcome" => {
                    let set = f.outcomes.get_or_insert([false; 4]);
                    for part in value.split(',').filter(|p| !p.is_empty()) {
                        let o = OutcomeKind::parse(part)
                            .ok_or_else(|| ParamError::Outcome(part.to_string()))?;
                        if let Some(slot) = set.get_mut(o.index()) {
                            *slot = true;
                        }
                    }
                }
                "feature" => f.feature = Some(Pattern::parse(value)),
                "action" => f.action = Some(Pattern::parse(value)),
                "source" => f.source = Some(value.clone()),
                "instance" => f.instance = Some(value.clone()),
                "eventId" => f.event_id = Some(value.clone()),
                "since" => f.since_ms = Some(parse_time("since", value)?),
                "until" => f.until_ms = Some(parse_time("until", value)?),
                "q" => {
                    f.text = (!value.is_empty()).then(|| value.to_ascii_lowercase().into_bytes())
                }
                "limit" => q.limit = parse_number("limit", value, 1, MAX_PAGE as u64)? as usize,
                "backlog" => q.limit = parse_number("backlog", value, 0, MAX_PAGE as u64)? as usize,
                "before" => q.before = Some(parse_number("before", value, 0, u64::MAX)?),
                "after" => q.after = Some(parse_number("after", value, 0, u64::MAX)?),
                "full" => q.full = parse_bool("full", value)?,
                "stats" => q.stats = parse_bool("stats", value)?,
                _ => return Err(ParamError::Unknown(name.to_string(), endpoint.known())),
            }
        }
        Ok(q)
    }

    /// Whether a sequence number is inside the `before`/`after` window.
    pub fn in_window(&self, seq: u64) -> bool {
        self.before.is_none_or(|b| seq < b) && self.after.is_none_or(|a| seq > a)
    }
}

/// ASCII case-insensitive substring search (`needle` already lowercased). Written by hand: the
/// needle is short and the haystacks are bounded by the store's byte limit, so a plain scan is
/// enough and needs no new dependency.
fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return true;
    };
    if needle.len() > haystack.len() {
        return false;
    }
    let last_start = haystack.len() - needle.len();
    (0..=last_start).any(|i| {
        haystack
            .get(i)
            .is_some_and(|b| b.to_ascii_lowercase() == first)
            && haystack
                .get(i..i + needle.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

impl Filter {
    /// Whether the filter looks into bodies (so a summary alone cannot decide).
    pub fn needs_content(&self) -> bool {
        self.text.is_some()
    }

    /// Whether a summary passes every filter except the text search.
    pub fn matches_summary(&self, s: &Summary) -> bool {
        if let Some(set) = &self.outcomes
            && !set.get(s.outcome.index()).copied().unwrap_or(false)
        {
            return false;
        }
        self.feature
            .as_ref()
            .is_none_or(|p| p.matches(s.get(Field::Feature)))
            && self
                .action
                .as_ref()
                .is_none_or(|p| p.matches(s.get(Field::Action)))
            && self
                .source
                .as_deref()
                .is_none_or(|v| v == s.get(Field::Source))
            && self
                .instance
                .as_deref()
                .is_none_or(|v| v == s.get(Field::Instance))
            && self
                .event_id
                .as_deref()
                .is_none_or(|v| v == s.get(Field::EventId))
            && self.since_ms.is_none_or(|t| s.received_ms >= t)
            && self.until_ms.is_none_or(|t| s.received_ms < t)
    }

    /// Whether an entry passes every filter.
    pub fn matches(&self, e: &Entry) -> bool {
        self.matches_summary(&e.summary)
            && self.text.as_deref().is_none_or(|needle| {
                let content: &[u8] = match &e.content {
                    Content::None | Content::NotHeld => &[],
                    other => other.searchable(),
                };
                contains_ignore_ascii_case(content, needle)
                    || contains_ignore_ascii_case(e.summary.get(Field::Error).as_bytes(), needle)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_refuses() {
        let q = Query::parse(
            &pairs(&[
                ("outcome", "rejected,published"),
                ("feature", "cody.*"),
                ("since", "2024-07-01T12:34:56Z"),
                ("until", "1719837297000"),
                ("limit", "5"),
                ("q", "Hello"),
            ]),
            Endpoint::List,
        )
        .unwrap();
        assert_eq!(q.limit, 5);
        assert_eq!(q.filter.since_ms, Some(1_719_837_296_000));
        assert_eq!(q.filter.until_ms, Some(1_719_837_297_000));
        assert_eq!(q.filter.outcomes, Some([true, true, false, false]));
        assert_eq!(q.filter.text.as_deref(), Some(&b"hello"[..]));
        let err =
            |q: &[(&str, &str)], e: Endpoint| Query::parse(&pairs(q), e).unwrap_err().to_string();
        assert!(
            err(&[("featur", "x")], Endpoint::List)
                .starts_with("unknown query parameter \"featur\"")
        );
        assert!(err(&[("outcome", "ok")], Endpoint::List).starts_with("unknown outcome \"ok\""));
        assert!(
            err(&[("since", "yesterday")], Endpoint::List)
                .starts_with("since \"yesterday\" is not a time")
        );
        assert_eq!(
            err(&[("limit", "0")], Endpoint::List),
            "limit \"0\" must be an integer from 1 to 1000"
        );
        assert_eq!(
            err(&[("feature", "a"), ("feature", "b")], Endpoint::List),
            "query parameter \"feature\" given more than once"
        );
        assert!(err(&[("backlog", "3")], Endpoint::List).starts_with("unknown query parameter"));
        assert!(err(&[("limit", "3")], Endpoint::Stream).starts_with("unknown query parameter"));
        assert_eq!(
            Query::parse(&pairs(&[("backlog", "3")]), Endpoint::Stream)
                .unwrap()
                .limit,
            3
        );
    }

    #[test]
    fn text_search_is_ascii_case_insensitive() {
        assert!(contains_ignore_ascii_case(b"abcHELLOdef", b"hello"));
        assert!(contains_ignore_ascii_case(b"hello", b"hello"));
        assert!(!contains_ignore_ascii_case(b"hell", b"hello"));
        assert!(contains_ignore_ascii_case(b"anything", b""));
        assert!(!contains_ignore_ascii_case(b"", b"x"));
    }

    #[test]
    fn patterns() {
        assert!(Pattern::parse("cody.*").matches("cody.completion"));
        assert!(!Pattern::parse("cody.*").matches("search"));
        assert!(Pattern::parse("search").matches("search"));
        assert!(!Pattern::parse("search").matches("searching"));
    }
}
