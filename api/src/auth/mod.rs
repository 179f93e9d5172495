//! Token verification and dev tokens; the viewer and claims themselves are `portal_core::identity`.

mod dev_key;
mod jwks;
mod verifier;

pub use dev_key::{DevSigner, load_or_create_dev_secret};
pub use portal_core::identity::{Claims, Role, Viewer};
pub use verifier::{JwtSettings, KeySource, TokenVerifier};
