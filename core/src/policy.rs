//! The sensitive-attribute policy: which parts of an event may leave an instance.
//!
//! Applied where events are queued for export (the gateway itself redacts nothing):
//!
//! * Sourcegraph.com ("dotcom") exports everything ([`RedactionMode::RedactNothing`]).
//! * An allowlisted event loses its marketing tracking and every private-metadata key that is
//!   not allowlisted for it; allowlisted keys must hold strings, anything else is replaced by an
//!   `ERROR: …` string ([`RedactionMode::RedactMarketingAndUnallowedPrivateMetadataKeys`]).
//! * Every other event loses marketing tracking and all private metadata
//!   ([`RedactionMode::RedactAllSensitive`]).
//!
//! Nothing else is touched: user ids, flags, interaction, billing and numeric metadata are kept.

use crate::prelude::*;

use crate::proto::Event;
use alloc::sync::Arc;
use prost_types::{Value, value::Kind};

/// The environment variable whose value [`Allowlist::with_additional`] parses.
pub const ADDITIONAL_ALLOWED_EVENT_TYPES_ENV: &str =
    "SRC_TELEMETRY_SENSITIVEMETADATA_ADDITIONAL_ALLOWED_EVENT_TYPES";

/// How much of an event is redacted; lower is stricter (the upstream integer order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RedactionMode {
    /// Strip marketing tracking and all private metadata.
    RedactAllSensitive = 0,
    /// Strip marketing tracking and private-metadata keys not on the event's allowlist.
    RedactMarketingAndUnallowedPrivateMetadataKeys = 1,
    /// Strip nothing (Sourcegraph.com).
    RedactNothing = 2,
}

/// A policy that cannot be built. Messages match the upstream ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An entry with fewer than two `::`-separated parts.
    #[error("cannot parse SRC_TELEMETRY_SENSITIVEMETADATA_ADDITIONAL_ALLOWED_EVENT_TYPES value {}", go_quote(.0))]
    Unparsable(String),
    /// An entry with a feature and action but no keys.
    #[error("cannot parse SRC_TELEMETRY_SENSITIVEMETADATA_ADDITIONAL_ALLOWED_EVENT_TYPES value {}, missing allowlisted fields", go_quote(.0))]
    MissingFields(String),
    /// An entry with an empty feature or action.
    #[error("AllowedEvents has invalid event(s): feature and action are required")]
    FeatureActionRequired,
}

/// Quotes like Go's `%q` (`strconv.Quote`) for the characters that can appear in an
/// environment value.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}' => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One allowlist entry: an event type and the private-metadata keys it may export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedEventType {
    /// The event feature.
    pub feature: String,
    /// The event action, or `*` for every action of the feature.
    pub action: String,
    /// Top-level private-metadata keys that may be exported (string values only).
    pub allowed_private_metadata_keys: Vec<String>,
}

impl AllowedEventType {
    fn new(feature: &str, action: &str, keys: &[&str]) -> Self {
        AllowedEventType {
            feature: feature.to_string(),
            action: action.to_string(),
            allowed_private_metadata_keys: keys.iter().map(|k| (*k).to_string()).collect(),
        }
    }
}

/// The built-in allowlist (upstream `sensitivemetadataallowlist.AllowedEventTypes`).
/// Additions need a legal/data review upstream; extend at runtime with
/// [`Allowlist::with_additional`] instead.
pub fn builtin_allowed_event_types() -> Vec<AllowedEventType> {
    vec![
        AllowedEventType::new("exampleFeature", "exampleAction", &["testField"]),
        AllowedEventType::new(
            "cody.completion",
            "*",
            &["languageId", "otherCompletionProviders"],
        ),
        AllowedEventType::new("cody.hoverCommands", "visible", &["languageId"]),
        AllowedEventType::new("blob.codeintel", "*", &["languageId"]),
        AllowedEventType::new("cody.chat-question", "submitted", &["chatModel"]),
        AllowedEventType::new("cody.chatResponse", "*", &["chatModel"]),
        AllowedEventType::new("cody.chatResponseNew", "*", &["chatModel"]),
        AllowedEventType::new("cody.command.doc", "executed", &["model"]),
        AllowedEventType::new("cody.command.edit", "executed", &["model"]),
        AllowedEventType::new("cody.command.fix", "executed", &["model"]),
        AllowedEventType::new("cody.command.test", "executed", &["model"]),
    ]
}

/// Parses the environment-variable extension syntax: comma-separated
/// `feature::action::key1::key2…` entries (`*` as action means every action).
pub fn parse_additional_allowed_event_types(
    config: &str,
) -> Result<Vec<AllowedEventType>, PolicyError> {
    if config.is_empty() {
        return Ok(Vec::new());
    }
    let mut types = Vec::new();
    for raw in config.split(',') {
        let parts = split_on_double_colon(raw);
        match parts.as_slice() {
            [feature, action, keys @ ..] if !keys.is_empty() => types.push(AllowedEventType {
                feature: (*feature).to_string(),
                action: (*action).to_string(),
                allowed_private_metadata_keys: keys.iter().map(|k| (*k).to_string()).collect(),
            }),
            [_, _] => return Err(PolicyError::MissingFields(raw.to_string())),
            _ => return Err(PolicyError::Unparsable(raw.to_string())),
        }
    }
    Ok(types)
}

/// `raw` split on every `::`, left to right (Go's `strings.Split(raw, "::")`). A byte scan
/// rather than `str::split("::")`, whose substring searcher the WASM build would carry for
/// this one call.
fn split_on_double_colon(raw: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.as_bytes().windows(2).position(|w| w == b"::") {
        parts.push(rest.get(..i).unwrap_or_default());
        rest = rest.get(i + 2..).unwrap_or_default();
    }
    parts.push(rest);
    parts
}

/// The allowlist: additional entries first, then the built-in ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    /// Shared: the built-in list is built once per process and every policy without additional
    /// entries refers to it (the JS API builds a policy per call).
    types: Arc<[AllowedEventType]>,
}

impl Default for Allowlist {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Allowlist {
    /// The built-in allowlist only.
    pub fn builtin() -> Self {
        // `once_cell`'s `OnceBox` rather than std's `OnceLock`: it needs only `alloc` (the
        // `no_std` client module).
        static BUILTIN: once_cell::race::OnceBox<Arc<[AllowedEventType]>> =
            once_cell::race::OnceBox::new();
        Allowlist {
            types: BUILTIN
                .get_or_init(|| Box::new(builtin_allowed_event_types().into()))
                .clone(),
        }
    }

    /// The built-in allowlist extended by the environment-variable syntax. As upstream,
    /// additional entries come first and built-ins after, so a built-in entry wins when both
    /// name the same event type.
    pub fn with_additional(config: &str) -> Result<Self, PolicyError> {
        if config.is_empty() {
            return Ok(Self::builtin());
        }
        let mut types = parse_additional_allowed_event_types(config)?;
        types.extend(builtin_allowed_event_types());
        if types
            .iter()
            .any(|t| t.feature.is_empty() || t.action.is_empty())
        {
            return Err(PolicyError::FeatureActionRequired);
        }
        Ok(Self::from_types(types))
    }

    fn from_types(types: Vec<AllowedEventType>) -> Self {
        Allowlist {
            types: types.into(),
        }
    }

    /// Every entry, additional ones first.
    pub fn entries(&self) -> &[AllowedEventType] {
        &self.types
    }

    /// The private-metadata keys allowed for an event type: the exact `feature/action` entry
    /// first, then a feature-wide (`*`) entry; `None` if the event type is not allowlisted. Of
    /// two entries for one event type the later one wins (built-ins come after additional
    /// entries). A scan: the list is a few dozen entries, and a lookup allocates nothing.
    pub fn allowed_keys(&self, feature: &str, action: &str) -> Option<&[String]> {
        let last = |matches: &dyn Fn(&AllowedEventType) -> bool| {
            self.types
                .iter()
                .rev()
                .find(|t| t.feature == feature && matches(t))
        };
        last(&|t| t.action == action && t.action != "*")
            .or_else(|| last(&|t| t.action == "*"))
            .map(|t| t.allowed_private_metadata_keys.as_slice())
    }
}

/// The instance's redaction policy: deployment kind plus allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactionPolicy {
    /// Whether this is Sourcegraph.com (exports everything).
    pub dotcom: bool,
    /// The allowlist for everyone else.
    pub allowlist: Allowlist,
}

impl RedactionPolicy {
    /// A policy from the two inputs an instance has: its deployment kind and the value of
    /// `SRC_TELEMETRY_SENSITIVEMETADATA_ADDITIONAL_ALLOWED_EVENT_TYPES` (empty for none).
    pub fn new(dotcom: bool, additional_allowed_event_types: &str) -> Result<Self, PolicyError> {
        Ok(RedactionPolicy {
            dotcom,
            allowlist: Allowlist::with_additional(additional_allowed_event_types)?,
        })
    }

    /// The mode that applies to an event, with its allowed keys in the allowlisted mode.
    pub fn mode_for(&self, event: &Event) -> (RedactionMode, &[String]) {
        if self.dotcom {
            return (RedactionMode::RedactNothing, &[]);
        }
        match self.allowlist.allowed_keys(&event.feature, &event.action) {
            Some(keys) => (
                RedactionMode::RedactMarketingAndUnallowedPrivateMetadataKeys,
                keys,
            ),
            None => (RedactionMode::RedactAllSensitive, &[]),
        }
    }

    /// Redacts `event` in place and returns the mode applied.
    pub fn redact(&self, event: &mut Event) -> RedactionMode {
        let (mode, keys) = self.mode_for(event);
        redact_event(event, mode, keys);
        mode
    }
}

/// The Go type name of a `structpb.Value` kind, as `%T` prints it.
fn go_kind_name(kind: Option<&Kind>) -> &'static str {
    match kind {
        None => "<nil>",
        Some(Kind::NullValue(_)) => "*structpb.Value_NullValue",
        Some(Kind::NumberValue(_)) => "*structpb.Value_NumberValue",
        Some(Kind::StringValue(_)) => "*structpb.Value_StringValue",
        Some(Kind::BoolValue(_)) => "*structpb.Value_BoolValue",
        Some(Kind::StructValue(_)) => "*structpb.Value_StructValue",
        Some(Kind::ListValue(_)) => "*structpb.Value_ListValue",
    }
}

/// Applies a redaction mode to `event` in place.
pub fn redact_event(event: &mut Event, mode: RedactionMode, allowed_keys: &[String]) {
    match mode {
        RedactionMode::RedactNothing => {}
        RedactionMode::RedactMarketingAndUnallowedPrivateMetadataKeys => {
            event.marketing_tracking = None;
            let Some(private) = event
                .parameters
                .as_mut()
                .and_then(|p| p.private_metadata.as_mut())
            else {
                return;
            };
            // Rebuilt rather than `retain`ed: `retain` brings the map's removal code into the
            // WASM build for this one use.
            let fields = core::mem::take(&mut private.fields);
            for (key, value) in fields {
                if allowed_keys.contains(&key) {
                    private.fields.insert(key, value);
                }
            }
            for value in private.fields.values_mut() {
                if !matches!(value.kind, Some(Kind::StringValue(_))) {
                    *value = Value {
                        kind: Some(Kind::StringValue(format!(
                            "ERROR: value of allowlisted key was not a string, got: {}",
                            go_kind_name(value.kind.as_ref())
                        ))),
                    };
                }
            }
        }
        RedactionMode::RedactAllSensitive => {
            event.marketing_tracking = None;
            if let Some(p) = event.parameters.as_mut() {
                p.private_metadata = None;
            }
        }
    }
}

/// Which events an instance exports at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportMode {
    /// Export every event.
    All,
    /// Export only Cody events (feature `cody` or `cody.*`).
    CodyOnly,
    /// Export nothing (air-gapped licenses).
    Disabled,
}

impl ExportMode {
    /// Whether an event with this feature is exported under this mode.
    pub fn exports(self, feature: &str) -> bool {
        match self {
            ExportMode::All => true,
            ExportMode::CodyOnly => is_cody_feature(feature),
            ExportMode::Disabled => false,
        }
    }
}

/// Whether a feature counts as a Cody event: `cody` itself or anything under `cody.`.
pub fn is_cody_feature(feature: &str) -> bool {
    feature == "cody" || feature.starts_with("cody.")
}

/// What the instance knows about its license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseState {
    /// No license key is configured.
    None,
    /// A license key is configured but does not parse or verify.
    Invalid,
    /// A verified license.
    Valid {
        /// The license's tags.
        tags: Vec<String>,
        /// Creation time, seconds since the Unix epoch.
        created_at_unix: i64,
    },
}

/// The inputs of the export-mode decision, all supplied by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportModeInputs {
    /// `SRC_TELEMETRY_EVENTS_EXPORT_ALL=true`.
    pub export_all_env: bool,
    /// The license.
    pub license: LicenseState,
    /// Whether this is Sourcegraph.com.
    pub dotcom: bool,
    /// `EXPORT_USAGE_DATA_ENABLED=true`.
    pub export_usage_data_env: bool,
}

/// Licenses created before 2023-10-04T00:00:00Z export only Cody events unless usage-data
/// export is enabled.
pub const CODY_ONLY_LICENSES_CREATED_BEFORE_UNIX: i64 = 1_696_377_600;

/// Decides the export mode, evaluating the upstream conditions in order.
pub fn export_mode(inputs: &ExportModeInputs) -> ExportMode {
    if inputs.export_all_env {
        return ExportMode::All;
    }
    let (tags, created_at) = match &inputs.license {
        LicenseState::None | LicenseState::Invalid => return ExportMode::All,
        LicenseState::Valid {
            tags,
            created_at_unix,
        } => (tags, *created_at_unix),
    };
    if inputs.dotcom {
        return ExportMode::All;
    }
    if tags.iter().any(|t| t == "allow-air-gapped") {
        return ExportMode::Disabled;
    }
    if tags.iter().any(|t| t == "disable-telemetry-events-export") {
        return ExportMode::CodyOnly;
    }
    if inputs.export_usage_data_env {
        return ExportMode::All;
    }
    if created_at < CODY_ONLY_LICENSES_CREATED_BEFORE_UNIX {
        return ExportMode::CodyOnly;
    }
    ExportMode::All
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_syntax() {
        assert_eq!(parse_additional_allowed_event_types("").unwrap(), vec![]);
        assert_eq!(
            parse_additional_allowed_event_types("asdf,foobar")
                .unwrap_err()
                .to_string(),
            "cannot parse SRC_TELEMETRY_SENSITIVEMETADATA_ADDITIONAL_ALLOWED_EVENT_TYPES value \"asdf\""
        );
        assert_eq!(
            parse_additional_allowed_event_types("foo::bar")
                .unwrap_err()
                .to_string(),
            "cannot parse SRC_TELEMETRY_SENSITIVEMETADATA_ADDITIONAL_ALLOWED_EVENT_TYPES value \"foo::bar\", missing allowlisted fields"
        );
        let t =
            parse_additional_allowed_event_types("foo::bar::field::field2,baz.bar::bar.baz::field")
                .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].allowed_private_metadata_keys, vec!["field", "field2"]);
        assert_eq!(
            Allowlist::with_additional("::bar::x").unwrap_err(),
            PolicyError::FeatureActionRequired
        );
    }

    #[test]
    fn lookup_precedence() {
        let a = Allowlist::with_additional(
            "cody.completion::accepted::only,exampleFeature::exampleAction::mine",
        )
        .unwrap();
        // exact entry beats the feature-wide one
        assert_eq!(
            a.allowed_keys("cody.completion", "accepted").unwrap(),
            ["only"]
        );
        assert_eq!(
            a.allowed_keys("cody.completion", "shown").unwrap(),
            ["languageId", "otherCompletionProviders"]
        );
        // built-ins come after env entries and win on the same key
        assert_eq!(
            a.allowed_keys("exampleFeature", "exampleAction").unwrap(),
            ["testField"]
        );
        assert!(a.allowed_keys("other", "thing").is_none());
    }

    #[test]
    fn export_mode_order() {
        let valid = |tags: &[&str], created| LicenseState::Valid {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created_at_unix: created,
        };
        let base = ExportModeInputs {
            export_all_env: false,
            license: valid(&[], CODY_ONLY_LICENSES_CREATED_BEFORE_UNIX),
            dotcom: false,
            export_usage_data_env: false,
        };
        assert_eq!(export_mode(&base), ExportMode::All);
        let old = ExportModeInputs {
            license: valid(&[], CODY_ONLY_LICENSES_CREATED_BEFORE_UNIX - 1),
            ..base.clone()
        };
        assert_eq!(export_mode(&old), ExportMode::CodyOnly);
        assert_eq!(
            export_mode(&ExportModeInputs {
                export_usage_data_env: true,
                ..old.clone()
            }),
            ExportMode::All
        );
        let gapped = ExportModeInputs {
            license: valid(&["allow-air-gapped", "disable-telemetry-events-export"], 0),
            ..base.clone()
        };
        assert_eq!(export_mode(&gapped), ExportMode::Disabled);
        assert_eq!(
            export_mode(&ExportModeInputs {
                dotcom: true,
                ..gapped.clone()
            }),
            ExportMode::All
        );
        assert_eq!(
            export_mode(&ExportModeInputs {
                export_all_env: true,
                ..gapped.clone()
            }),
            ExportMode::All
        );
        let cody = ExportModeInputs {
            license: valid(&["disable-telemetry-events-export"], i64::MAX),
            export_usage_data_env: true,
            ..base.clone()
        };
        assert_eq!(export_mode(&cody), ExportMode::CodyOnly);
        assert_eq!(
            export_mode(&ExportModeInputs {
                license: LicenseState::Invalid,
                ..gapped.clone()
            }),
            ExportMode::All
        );
        assert_eq!(
            export_mode(&ExportModeInputs {
                license: LicenseState::None,
                ..gapped
            }),
            ExportMode::All
        );
        assert!(ExportMode::CodyOnly.exports("cody"));
        assert!(ExportMode::CodyOnly.exports("cody.chat"));
        assert!(!ExportMode::CodyOnly.exports("codyx"));
        assert!(!ExportMode::Disabled.exports("cody"));
    }
}
