//! Trace format and replay: TODO
