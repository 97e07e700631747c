//! Integration tests: the real server on a random port, a fresh database per test.
//! One binary (one link) for all of them; each area is a module.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

mod accounts;
mod admin;
mod api;
mod base_path;
mod binary;
mod bodies;
mod browser;
mod busy;
mod cli;
mod corpus;
mod dbsc;
mod devices;
mod faults;
mod forge;
mod forward;
mod guard;
mod hostile;
mod instances;
mod operations;
mod outage;
mod process;
mod props;
mod proxy;
mod revocation;
mod rotation;
mod secrets;
mod security;
mod standalone;
mod startup;
mod supply_chain;
mod team_page;
/// The example's pages (`examples/team_page`), compiled here to be run through the real server.
#[path = "../../examples/team_page/pages.rs"]
mod team_pages;
mod throttling;
