//! The step runner shared by the workflows: checks the caller's policy for
//! every step a request will run before the first one runs, runs catalogue
//! operations through the engine, records each as a report step, and stops
//! at the first failure, which becomes the RPC's status.

use std::collections::HashMap;
use std::sync::Arc;

use prost_reflect::DynamicMessage;
use tonic_types::StatusExt as _;

use crate::engine::{Arg, CallContext, Engine};
use crate::error::GatewayError;
use crate::proto::{StepOutcome, WorkflowReport, WorkflowStep};
use crate::vault::TokenEntry;

/// How many pages a workflow reads from one list before it gives up: a
/// bound, so a runaway cursor cannot loop forever.
const MAX_PAGES: usize = 50;

/// One workflow run.
pub struct Run<'a> {
    engine: &'a Engine,
    ctx: CallContext,
    steps: Vec<WorkflowStep>,
    failed: bool,
    /// The status of the first failed step.
    failure: Option<tonic::Status>,
}

/// A step a workflow plans to run: its name, catalogue operation, and the
/// arguments known before the first step runs.
pub struct Planned<'p> {
    /// What it does.
    pub name: String,
    /// Catalogue id.
    pub operation_id: &'static str,
    /// Arguments known now (ids found by earlier steps are left out).
    pub args: Vec<(&'p str, Arg)>,
}

/// How a run ended: the report, and the failed step's status when one
/// failed (the RPC's status then, with the report attached).
#[derive(Debug)]
pub struct Finished {
    /// What was and was not done.
    pub report: WorkflowReport,
    /// The first failed step's status.
    pub failure: Option<tonic::Status>,
}

// === impl Run ===

impl<'a> Run<'a> {
    /// Starts a run.
    pub fn new(engine: &'a Engine, ctx: CallContext) -> Self {
        Self {
            engine,
            ctx,
            steps: Vec::new(),
            failed: false,
            failure: None,
        }
    }

    /// Checks the caller's policy for every planned step before any runs.
    /// On the first denial the step is recorded as failed (its error the
    /// denial), the others as not run, and false is returned: the workflow
    /// then finishes without running anything.
    pub async fn check(&mut self, planned: &[Planned<'_>]) -> bool {
        for (i, p) in planned.iter().enumerate() {
            if let Err(e) = self
                .engine
                .authorize_operation(p.operation_id, &self.ctx, &p.args)
                .await
            {
                for earlier in &planned[..i] {
                    self.push(
                        earlier.name.clone(),
                        earlier.operation_id,
                        String::new(),
                        StepOutcome::NotRun,
                        "a later step is refused by caller policy".into(),
                    );
                }
                let call = self.graph_call(p.operation_id, &p.args);
                self.fail(p.name.clone(), p.operation_id, call, &e);
                for later in &planned[i + 1..] {
                    self.push(
                        later.name.clone(),
                        later.operation_id,
                        String::new(),
                        StepOutcome::NotRun,
                        "an earlier step is refused by caller policy".into(),
                    );
                }
                return false;
            }
        }
        true
    }

    /// The engine.
    pub fn engine(&self) -> &'a Engine {
        self.engine
    }

    /// The call context.
    pub fn ctx(&self) -> &CallContext {
        &self.ctx
    }

    /// Runs one operation as a step; None (and the run marked failed) on error.
    pub async fn step(
        &mut self,
        name: impl Into<String>,
        operation_id: &str,
        args: &[(&str, Arg)],
        token: Option<Arc<TokenEntry>>,
    ) -> Option<DynamicMessage> {
        let name = name.into();
        let call = self.graph_call(operation_id, args);
        match self
            .engine
            .operation(operation_id, &self.ctx, args, token)
            .await
        {
            Ok(msg) => {
                self.push(name, operation_id, call, StepOutcome::Done, String::new());
                Some(msg)
            }
            Err(e) => {
                self.fail(name, operation_id, call, &e);
                None
            }
        }
    }

    /// Reads every page of a list operation; the items of `items_field`.
    pub async fn list_all(
        &mut self,
        name: impl Into<String>,
        operation_id: &str,
        args: &[(&str, Arg)],
        items_field: &str,
    ) -> Option<Vec<DynamicMessage>> {
        let name = name.into();
        let call = self.graph_call(operation_id, args);
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let mut a = args.to_vec();
            a.push(("page_size", Arg::Int(100)));
            if !token.is_empty() {
                a.push(("page_token", Arg::Str(token.clone())));
            }
            match self
                .engine
                .operation(operation_id, &self.ctx, &a, None)
                .await
            {
                Ok(msg) => {
                    out.extend(messages(&msg, items_field));
                    token = string_field(&msg, "next_page_token");
                    if token.is_empty() {
                        let detail = format!("{} found", out.len());
                        self.push(name, operation_id, call, StepOutcome::Done, detail);
                        return Some(out);
                    }
                }
                Err(e) => {
                    self.fail(name, operation_id, call, &e);
                    return None;
                }
            }
        }
        let e = GatewayError::Internal(format!("more than {MAX_PAGES} pages"));
        self.fail(name, operation_id, call, &e);
        None
    }

    /// Records a step that ran outside `step` (e.g. deriving a page token).
    pub fn record(
        &mut self,
        name: impl Into<String>,
        operation_id: &str,
        call: &str,
        outcome: Result<String, &GatewayError>,
    ) {
        match outcome {
            Ok(detail) => self.push(
                name.into(),
                operation_id,
                call.to_string(),
                StepOutcome::Done,
                detail,
            ),
            Err(e) => self.fail(name.into(), operation_id, call.to_string(), e),
        }
    }

    /// Records a step that was not needed.
    pub fn skipped(
        &mut self,
        name: impl Into<String>,
        operation_id: &str,
        detail: impl Into<String>,
    ) {
        self.push(
            name.into(),
            operation_id,
            String::new(),
            StepOutcome::Skipped,
            detail.into(),
        );
    }

    /// Sets the detail of the last step.
    pub fn note(&mut self, detail: impl Into<String>) {
        if let Some(s) = self.steps.last_mut() {
            s.detail = detail.into();
        }
    }

    /// Ends the run; `not_run` lists the planned steps that did not run.
    pub fn finish(mut self, not_run: &[(String, &str)]) -> Finished {
        for (name, op) in not_run {
            self.push(
                name.clone(),
                op,
                String::new(),
                StepOutcome::NotRun,
                "an earlier step failed".into(),
            );
        }
        let done = self
            .steps
            .iter()
            .filter(|s| s.outcome == StepOutcome::Done as i32)
            .count();
        let summary = if self.failed {
            let failed = self
                .steps
                .iter()
                .find(|s| s.outcome == StepOutcome::Failed as i32);
            let not_run = self
                .steps
                .iter()
                .filter(|s| s.outcome == StepOutcome::NotRun as i32)
                .count();
            format!(
                "stopped: step {:?} failed ({}); {done} step(s) done before it, {not_run} not run",
                failed.map(|s| s.name.as_str()).unwrap_or_default(),
                failed.map(|s| s.detail.as_str()).unwrap_or_default(),
            )
        } else {
            format!("completed: {done} step(s) done")
        };
        Finished {
            report: WorkflowReport {
                completed: !self.failed,
                steps: self.steps,
                summary,
            },
            failure: self.failure,
        }
    }

    fn push(&mut self, name: String, op: &str, call: String, outcome: StepOutcome, detail: String) {
        self.steps.push(WorkflowStep {
            name,
            operation_id: op.to_string(),
            graph_call: call,
            outcome: outcome as i32,
            detail,
            ..Default::default()
        });
    }

    fn fail(&mut self, name: String, op: &str, call: String, e: &GatewayError) {
        let status = crate::grpc::status::to_status(e);
        let info = status.get_error_details().error_info().cloned();
        let code = code_name(status.code());
        let message = status.message().to_string();
        if self.failure.is_none() {
            self.failure = Some(status);
        }
        self.steps.push(WorkflowStep {
            name,
            operation_id: op.to_string(),
            graph_call: call,
            outcome: StepOutcome::Failed as i32,
            detail: message,
            error_code: code,
            error_reason: info.as_ref().map(|i| i.reason.clone()).unwrap_or_default(),
            error_metadata: info.map(|i| i.metadata).unwrap_or_else(HashMap::new),
        });
        self.failed = true;
    }

    /// "DELETE /9000000001/assigned_users": the route's template filled with
    /// the string arguments (ids only; no secrets are ever arguments).
    pub fn graph_call(&self, operation_id: &str, args: &[(&str, Arg)]) -> String {
        let Some(route) = self.engine.routes().by_operation(operation_id) else {
            return String::new();
        };
        let mut path = route.template.raw.clone();
        for (name, arg) in args {
            if let Arg::Str(v) = arg {
                let v = if path.contains(&format!("act_{{{name}}}")) {
                    v.trim_start_matches("act_")
                } else {
                    v
                };
                path = path.replace(&format!("{{{name}}}"), v);
            }
        }
        format!("{} {path}", route.http.as_str())
    }
}

/// The messages of a repeated message field.
pub fn messages(msg: &DynamicMessage, field: &str) -> Vec<DynamicMessage> {
    msg.get_field_by_name(field)
        .and_then(|v| {
            v.as_list()
                .map(|l| l.iter().filter_map(|x| x.as_message().cloned()).collect())
        })
        .unwrap_or_default()
}

/// A string field, or "".
pub fn string_field(msg: &DynamicMessage, field: &str) -> String {
    msg.get_field_by_name(field)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// "PermissionDenied" -> "PERMISSION_DENIED".
fn code_name(code: tonic::Code) -> String {
    let debug = format!("{code:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
