//! The **controller**: watches Applications and the objects they manage and
//! drives each app through source -> render -> diff -> sync -> health, then
//! reports status. The only stage that owns long-running tasks.
//!
//! Not implemented yet: see the issues "Sync engine" and "Continuous
//! reconciliation".
