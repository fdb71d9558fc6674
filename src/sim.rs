//! Simulated Z-API (stub: being written).
