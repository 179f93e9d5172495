//! Integration tests of the portal: the real application state and schema over SQLite and
//! PostgreSQL, and the real binary over HTTP.

mod support;

mod access;
mod audit;
mod auth;
mod e2e;
mod queries;
mod realtime;
mod release;
mod sdl;
