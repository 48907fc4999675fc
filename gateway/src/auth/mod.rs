//! Authentication of the stream's identity: license keys for licensed instances, SAMS bearer
//! tokens (OAuth2 token introspection) for managed services.

pub mod license;
pub mod sams;
