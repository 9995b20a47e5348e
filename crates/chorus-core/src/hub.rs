//! The hub: the registry of namespaces.
//!
//! One hub per server. Namespaces are created on first use and live as long as the hub;
//! there are few of them (the event layer's and the raw rooms'), so one lock suffices.
//! Every namespace shares the hub's publisher, if it keeps history.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::cluster::Local;
use crate::{Cluster, Namespace, Policy, Publisher, QueueLimits};

/// Limits and switches of the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Outbound queue bounds per connection. A connection whose queue is full when a
    /// message arrives is disconnected as a slow consumer (1008).
    pub queue: QueueLimits,
    /// Most rooms one connection may be in.
    pub max_rooms_per_conn: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            queue: QueueLimits::default(),
            max_rooms_per_conn: 100,
        }
    }
}

/// The registry of namespaces.
#[derive(Debug, Default)]
pub struct Hub {
    config: HubConfig,
    publisher: Option<Arc<Publisher>>,
    cluster: Option<Arc<Cluster>>,
    namespaces: RwLock<HashMap<Arc<str>, Arc<Namespace>>>,
}

impl Hub {
    /// A hub with these limits, keeping history through `publisher` if given.
    pub fn new(config: HubConfig, publisher: Option<Arc<Publisher>>) -> Self {
        Self {
            config,
            publisher,
            cluster: None,
            namespaces: RwLock::new(HashMap::new()),
        }
    }

    /// A hub that is one node of `cluster`: every message published here goes through the
    /// cluster's broker and reaches the connections of every node (see [`crate::cluster`]).
    /// Rooms keep history through `publisher` if given: its store must be one the cluster
    /// shares and that announces its appends to every node ([`crate::Store::announces`]),
    /// so that every node delivers a room's stored messages in one order.
    pub fn clustered(
        config: HubConfig,
        cluster: Arc<Cluster>,
        publisher: Option<Arc<Publisher>>,
    ) -> Self {
        if let Some(publisher) = &publisher {
            if !publisher.store().announces() {
                tracing::warn!(
                    "a node of a cluster keeps history in a store other nodes do not hear: \
                     its rooms' stored messages reach this node's connections only"
                );
            }
            cluster.attach(publisher);
            publisher.join_cluster(&cluster);
        }
        Self {
            config,
            publisher,
            cluster: Some(cluster),
            namespaces: RwLock::new(HashMap::new()),
        }
    }

    /// The node's cluster, if it is one of several.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    /// The publisher of rooms with history, if the hub keeps any.
    pub fn publisher(&self) -> Option<&Arc<Publisher>> {
        self.publisher.as_ref()
    }

    /// The hub's configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// The namespace `name`, created on first use with `policy` (fixed by the first call).
    pub fn namespace(&self, name: &str, policy: Policy) -> Arc<Namespace> {
        if let Some(ns) = self.namespaces.read().get(name) {
            return ns.clone();
        }
        self.namespaces
            .write()
            .entry(Arc::from(name))
            .or_insert_with(|| {
                let ns = Arc::new(Namespace::new(
                    Arc::from(name),
                    policy,
                    self.config.queue,
                    self.config.max_rooms_per_conn,
                    self.publisher.clone(),
                    self.cluster.clone(),
                ));
                if let Some(cluster) = &self.cluster {
                    cluster.register(&(ns.clone() as Arc<dyn Local>));
                }
                ns
            })
            .clone()
    }

    /// The namespace `name`, if it exists.
    pub fn get_namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.namespaces.read().get(name).cloned()
    }

    /// Every namespace.
    pub fn namespaces(&self) -> Vec<Arc<Namespace>> {
        self.namespaces.read().values().cloned().collect()
    }

    /// Total open connections over all namespaces.
    pub fn connection_count(&self) -> usize {
        self.namespaces.read().values().map(|ns| ns.len()).sum()
    }
}
