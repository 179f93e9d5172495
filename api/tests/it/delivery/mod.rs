//! Notifications: email over real SMTP, SMS and push, retries, send-time checks, the morning burst.

mod burst;
mod checks;
mod sends;
