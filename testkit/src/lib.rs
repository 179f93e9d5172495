//! Test support shared by the workspace's test suites: real servers started on loopback.

pub mod postgres;
pub mod redis;
pub mod smtp;
