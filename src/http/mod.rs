//! The HTTP layer: the route table, the session guard and frame middleware, thin handlers,
//! and the single mapping from domain errors to responses.

pub mod admin_views;
pub mod assets;
pub mod chart;
pub mod client;
pub mod cookies;
pub mod error;
pub mod extend;
pub mod forms;
pub mod guard;
pub mod handlers;
pub mod json;
pub mod middleware;
pub mod next;
pub mod routes;
pub mod server;
pub mod state;
pub mod urls;
pub mod views;

pub use server::Application;
