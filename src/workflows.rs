//! Composite RPCs (catalogue WF01-WF03): each runs its steps through the same
//! pipeline as single-call RPCs and reports per step. Declared in the proto
//! with `(graphgateway.v1.workflow)`; build.rs wires them here by name.
