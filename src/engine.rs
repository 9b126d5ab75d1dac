//! The run engine: service states, ordering, retries, approvals — a pure state machine that
//! returns effects as data. Drivers (`run`, the TUI) carry them out and feed results back.

pub mod effect;
pub mod event;
pub mod machine;
pub mod state;

pub use effect::Effect;
pub use event::{
    AttemptId, Cascade, Input, Launch, ResumeFacts, TimerId, attempt_failure, classify_exit, passes,
};
pub use machine::{Engine, EngineOptions};
pub use state::{
    Decision, HostStatus, ManualOutcome, Mode, Phase, ServiceState, ServiceView, StepOutcome,
    StepRef, Waiting,
};
