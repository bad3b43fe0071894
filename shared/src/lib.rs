//! # remediation
//!
//! The shared engine behind every function of the product, and the controls it runs.
//!
//! One path, the same for every control:
//!
//! ```text
//! inbound event ──intake──▶ resource targets ──engine──▶ control: inspect → decide → apply → verify
//!                                                                      │
//!                                              outcome record ◀────────┘ (response, audit log, Config evaluation)
//! ```
//!
//! * [`intake`] turns any supported event shape, once, into a [`intake::Intake`]: who triggered
//!   what, and which resources (or a sweep) to look at, each with its account and region.
//! * [`dispatch`] groups them by account and region, keeps what the function can reach (its own
//!   account and region, or a [`hub`]'s scope) and runs the engine of each: the one invocation
//!   path of every function.
//! * [`control::Control`] is what a control implements; [`engine::Engine`] drives it, so a new
//!   control never edits the engine.
//! * [`outcome`] holds the result records, [`settings`] the validated environment, [`clients`] the
//!   AWS SDK configuration shared by all functions.

pub mod aws;
pub mod clients;
pub mod config_rule;
pub mod contested;
pub mod control;
pub mod controls;
#[cfg(feature = "all")]
pub mod deploy;
pub mod dispatch;
pub mod engine;
pub mod env;
pub mod error;
pub mod event;
pub mod exemption;
pub mod findings;
pub mod functions;
pub mod governance;
pub mod hub;
pub mod intake;
pub mod metrics;
pub mod notify;
pub mod outcome;
pub mod pipeline;
pub mod policy;
pub mod resource;
pub mod settings;
pub mod telemetry;

pub use aws::{AwsError, Operation};
pub use control::{Control, ControlSpec, Decision};
pub use engine::Engine;
pub use error::{EngineError, IntakeError, SettingsError};
pub use outcome::{Outcome, OutcomeRecord, Response};
pub use pipeline::DynControl;
pub use resource::{Resource, Scope};
pub use settings::Settings;
