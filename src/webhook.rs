//! Webhook listener (stub: being written).
