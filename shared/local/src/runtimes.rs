//! Where a process's nodes run. Two nodes in one process (the demo, the benchmarks, a
//! config with both sides of a connection) are two deployments that share a machine, so
//! each gets a Tokio runtime of its own, with its share of the cores, together with the
//! sandboxes its trackers are. A node's database, queues and tracker calls are then
//! worked on by its own threads only: the nodes no longer wait on each other's database
//! locks or wake each other's threads for every step. A process with one node runs it on
//! the runtime that starts it.

use std::future::Future;
use tokio::runtime::{Builder, EnterGuard, Handle, Runtime};
use twinsync_node::config::ProcessConfig;
use twinsync_node::{NodeError, NodeResult};

/// How the nodes of a process share threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Every node on the runtime that starts the process.
    Shared,
    /// With more than one node, each on a runtime of its own.
    #[default]
    RuntimePerNode,
}

/// The runtimes of a process's nodes, by the node's place in the config; none when the
/// nodes share the caller's. Dropped, they stop without waiting for their tasks, since a
/// runtime cannot be dropped inside another one's async context.
#[derive(Default)]
pub(crate) struct NodeRuntimes {
    runtimes: Vec<Runtime>,
}

impl NodeRuntimes {
    pub(crate) fn build(config: &ProcessConfig, placement: Placement) -> NodeResult<Self> {
        let nodes = config.node.len();
        if placement == Placement::Shared || nodes < 2 {
            return Ok(Self::default());
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = (cores / nodes).max(1);
        let runtimes = config
            .node
            .iter()
            .map(|section| {
                Builder::new_multi_thread()
                    .worker_threads(workers)
                    .thread_name(format!("node {}", section.id))
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        NodeError::config(format!("node {}: starting its runtime: {e}", section.id))
                    })
            })
            .collect::<NodeResult<_>>()?;
        Ok(Self { runtimes })
    }

    /// The runtime of the node at `index`, when it has one of its own.
    pub(crate) fn handle(&self, index: usize) -> Option<Handle> {
        self.runtimes.get(index).map(|r| r.handle().clone())
    }

    /// Runs `work` on the runtime of the node at `index`, or here when it has none: for
    /// what binds listeners and spawns tasks that belong to that node.
    pub(crate) async fn run<T, F>(&self, index: Option<usize>, work: F) -> NodeResult<T>
    where
        T: Send + 'static,
        F: Future<Output = NodeResult<T>> + Send + 'static,
    {
        match index.and_then(|i| self.runtimes.get(i)) {
            None => work.await,
            Some(runtime) => runtime
                .spawn(work)
                .await
                .map_err(|e| NodeError::config(format!("a node's runtime: {e}")))?,
        }
    }

    /// Makes the runtime of the node at `index` the one `tokio::spawn` uses while the
    /// guard lives; `None` leaves the caller's.
    pub(crate) fn enter(&self, index: usize) -> Option<EnterGuard<'_>> {
        self.runtimes.get(index).map(Runtime::enter)
    }

    /// The node whose trackers include the sandbox `id`, on whose runtime it runs.
    pub(crate) fn home_of_sandbox(config: &ProcessConfig, id: &str) -> Option<usize> {
        let url = format!("sandbox:{id}");
        config
            .node
            .iter()
            .position(|n| n.instance.iter().any(|i| i.base_url == url))
    }
}

impl Drop for NodeRuntimes {
    fn drop(&mut self) {
        for runtime in self.runtimes.drain(..) {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinsync_node::config::{InstanceSection, NodeSection};

    fn node(id: &str, sandboxes: &[&str]) -> NodeSection {
        let instance = |s: &&str| InstanceSection {
            id: format!("{s}-instance"),
            base_url: format!("sandbox:{s}"),
            ..InstanceSection::default()
        };
        NodeSection {
            id: id.into(),
            instance: sandboxes.iter().map(instance).collect(),
            ..NodeSection::default()
        }
    }

    fn process(node: Vec<NodeSection>) -> ProcessConfig {
        ProcessConfig {
            sandbox: Vec::new(),
            node,
        }
    }

    #[test]
    fn nodes_get_runtimes_of_their_own_only_when_there_are_several() {
        let one = process(vec![node("a", &["sa"])]);
        let two = process(vec![node("a", &["sa"]), node("b", &["sb"])]);
        let cases = [
            (&one, Placement::RuntimePerNode, 0),
            (&two, Placement::Shared, 0),
            (&two, Placement::RuntimePerNode, 2),
        ];
        for (config, placement, expected) in cases {
            let runtimes = NodeRuntimes::build(config, placement).unwrap();
            assert_eq!(runtimes.runtimes.len(), expected, "{placement:?}");
            assert_eq!(runtimes.handle(1).is_some(), expected == 2);
        }
    }

    #[test]
    fn a_sandbox_runs_with_the_node_whose_tracker_it_is() {
        let config = process(vec![node("a", &["sa"]), node("b", &["sb", "sc"])]);
        let cases = [
            ("sa", Some(0)),
            ("sb", Some(1)),
            ("sc", Some(1)),
            ("sz", None),
        ];
        for (sandbox, home) in cases {
            assert_eq!(
                NodeRuntimes::home_of_sandbox(&config, sandbox),
                home,
                "{sandbox}"
            );
        }
    }

    #[tokio::test]
    async fn work_runs_on_the_nodes_runtime_and_a_stopped_one_is_an_error() {
        let config = process(vec![node("a", &[]), node("b", &[])]);
        let runtimes = NodeRuntimes::build(&config, Placement::RuntimePerNode).unwrap();
        let name = |index| {
            runtimes.run(index, async {
                Ok(std::thread::current().name().map(str::to_string))
            })
        };
        assert_eq!(name(Some(1)).await.unwrap().as_deref(), Some("node b"));
        assert_ne!(name(None).await.unwrap().as_deref(), Some("node b"));
        let handle = runtimes.handle(0).unwrap();
        drop(runtimes);
        let after = handle.spawn(async {}).await;
        assert!(after.is_err(), "a runtime that was shut down takes no work");
    }
}
