//! Application state (stub: being written).
