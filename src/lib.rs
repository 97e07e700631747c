//! Latchkey: browser sessions done right.
//!
//! Layers, each a folder: [`config`] (environment → typed settings), [`domain`] (typed values),
//! [`db`] (one connection type over SQLite and PostgreSQL, rows and queries), [`auth`]
//! (tokens, refresh families, passwords, CSRF, revocation; knows nothing of actix) and
//! [`http`] (routes, the session guard, handlers, error → response mapping).

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod telemetry;
