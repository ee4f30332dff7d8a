//! Stage 4, **sync**: plan (phases, waves, kind order, hooks) and carry out
//! apply and prune as a step function whose state lives in the
//! Application's status, so that a restarted controller resumes it.
//!
//! Not implemented yet: it arrives with the sync engine.
