//! Integration tests: the real server on a random port, a fresh database per test.
//! One binary (one link) for all of them; each area is a module.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

mod accounts;
mod api;
mod browser;
mod cli;
mod guard;
mod instances;
mod operations;
mod outage;
mod process;
mod proxy;
mod startup;
