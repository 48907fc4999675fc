//! Feature/action rules and the gateway's per-event checks.
//!
//! The feature/action check is the one the Go `ValidateEventFeatureAction` and the JS SDK's
//! `validateEventFeatureAction` apply (they are kept in sync upstream); recording paths and the
//! gateway share it here.

use crate::json::{MarshalError, check_event};
use crate::proto::Event;

/// The longest feature or action accepted, in bytes (Go counts bytes).
pub const MAX_FEATURE_ACTION_LEN: usize = 64;

/// Why a feature/action pair is refused. Messages are exactly the upstream ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FeatureActionError {
    /// Feature or action is empty.
    #[error("'feature', 'action' must both be provided")]
    BothRequired,
    /// Feature is longer than 64 bytes.
    #[error("'feature' must be less than 64 characters")]
    FeatureTooLong,
    /// Action is longer than 64 bytes.
    #[error("'action' must be less than 64 characters")]
    ActionTooLong,
    /// Feature does not match `^[a-z][a-zA-Z-\.]+$`.
    #[error(
        "'feature' must start with a lowercase letter and contain only letters, dashes, and dots"
    )]
    FeatureInvalid,
    /// Action does not match `^[a-z][a-zA-Z-\.]+$`.
    #[error(
        "'action' must start with a lowercase letter and contain only letters, dashes, and dots"
    )]
    ActionInvalid,
}

/// Why the gateway refuses an event. These failures are not retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// `id` is empty.
    #[error("event ID is required")]
    IdRequired,
    /// Feature or action fails [`validate_feature_action`].
    #[error("invalid event 'feature' or 'action': {0}")]
    FeatureAction(#[from] FeatureActionError),
    /// `timestamp` is not set.
    #[error("event timestamp is required")]
    TimestampRequired,
    /// protojson cannot marshal the event (e.g. NaN inside private metadata).
    #[error("marshalling event: {0}")]
    Marshal(#[from] MarshalError),
    /// Its message would break Pub/Sub's limits (see [`crate::translate::check_pubsub_limits`]).
    #[cfg(feature = "translate")]
    #[error("event exceeds pub/sub limits: {0}")]
    PubSubLimit(#[from] crate::translate::PubSubLimitError),
}

/// Matches `^[a-z][a-zA-Z-\.]+$` without a regex engine (a byte scan is exact for this
/// pattern, and keeps the regex crate out of the WASM build; a property test compares the two).
fn matches_name_pattern(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_lowercase()
                && !rest.is_empty()
                && rest
                    .iter()
                    .all(|b| b.is_ascii_alphabetic() || *b == b'-' || *b == b'.')
        }
        None => false,
    }
}

/// Checks a feature/action pair in the upstream order: presence, feature length, action
/// length, feature pattern, action pattern.
pub fn validate_feature_action(feature: &str, action: &str) -> Result<(), FeatureActionError> {
    if feature.is_empty() || action.is_empty() {
        return Err(FeatureActionError::BothRequired);
    }
    if feature.len() > MAX_FEATURE_ACTION_LEN {
        return Err(FeatureActionError::FeatureTooLong);
    }
    if action.len() > MAX_FEATURE_ACTION_LEN {
        return Err(FeatureActionError::ActionTooLong);
    }
    if !matches_name_pattern(feature) {
        return Err(FeatureActionError::FeatureInvalid);
    }
    if !matches_name_pattern(action) {
        return Err(FeatureActionError::ActionInvalid);
    }
    Ok(())
}

/// The gateway's checks that need no serialization, in its order: id, feature/action, timestamp.
pub fn check_required_fields(event: &Event) -> Result<(), EventError> {
    if event.id.is_empty() {
        return Err(EventError::IdRequired);
    }
    validate_feature_action(&event.feature, &event.action)?;
    if event.timestamp.is_none() {
        return Err(EventError::TimestampRequired);
    }
    Ok(())
}

/// All of the gateway's per-event checks, in its order: id, feature/action, timestamp, and
/// whether protojson can marshal the event.
pub fn validate_event(event: &Event) -> Result<(), EventError> {
    check_required_fields(event)?;
    // The writer's own errors, found without writing the event.
    check_event(event)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn upstream_examples() {
        assert_eq!(
            validate_feature_action("valid.feature", "valid-action"),
            Ok(())
        );
        assert_eq!(
            validate_feature_action("validFeature.foobar", "valid.action"),
            Ok(())
        );
        assert_eq!(
            validate_feature_action("", "a"),
            Err(FeatureActionError::BothRequired)
        );
        assert_eq!(
            validate_feature_action("a", "bb"),
            Err(FeatureActionError::FeatureInvalid)
        );
        assert_eq!(
            validate_feature_action("aa", "b_b"),
            Err(FeatureActionError::ActionInvalid)
        );
        let max = format!("a{}", "b".repeat(63));
        assert_eq!(validate_feature_action(&max, &max), Ok(()));
        let long = format!("{max}c");
        assert_eq!(
            validate_feature_action(&long, &long),
            Err(FeatureActionError::FeatureTooLong)
        );
        assert_eq!(
            validate_feature_action("ab", &long),
            Err(FeatureActionError::ActionTooLong)
        );
    }

    proptest! {
        #[test]
        fn byte_scan_equals_the_upstream_regex(s in "\\PC{0,8}|[a-zA-Z.\\-_0-9 ]{0,8}") {
            let re = regex::Regex::new(r"^[a-z][a-zA-Z-\.]+$").unwrap();
            prop_assert_eq!(matches_name_pattern(&s), re.is_match(&s));
        }
    }
}
