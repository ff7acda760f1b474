//! Counts the AWS operations a node makes, by service and operation: the measured input
//! of the cost model (docs/aws-cost.md) and of the functions' metrics.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// An SDK interceptor; clones share one tally.
#[derive(Debug, Clone, Default)]
pub struct OperationCounter {
    tally: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl OperationCounter {
    /// `"{service}.{operation}"` → operations so far (an operation the SDK retried
    /// counts once).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Intercept for OperationCounter {
    fn name(&self) -> &'static str {
        "OperationCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>()
            && let Ok(mut tally) = self.tally.lock()
        {
            *tally
                .entry(format!("{}.{}", m.service(), m.name()))
                .or_default() += 1;
        }
        Ok(())
    }
}
