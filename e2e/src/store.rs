//! The object store: one ordered map of JSON objects, a single monotonic resourceVersion
//! counter bumped once per committed change, and a bounded event history that watches replay
//! from. Every change is broadcast while the lock is held, so a watcher that snapshots and
//! subscribes under the same lock sees each event exactly once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

/// Identifies one stored object; `namespace` is empty for cluster-scoped resources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(group: &str, plural: &str, namespace: &str, name: &str) -> Self {
        Self {
            group: group.into(),
            plural: plural.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn same_resource(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change. `old` is the previous state, so watches with selectors can turn an
/// object leaving the selection into DELETED, as the real watch cache does.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: EventKind,
    pub key: ObjKey,
    pub object: Value,
    pub old: Option<Value>,
}

/// How many events watches can resume from before a version counts as too old (410 Gone).
const HISTORY: usize = 20_000;

pub struct Inner {
    rv: u64,
    objects: BTreeMap<ObjKey, Value>,
    history: VecDeque<Arc<Event>>,
    /// Versions at or below this are compacted away.
    compacted: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

pub struct Store {
    inner: Mutex<Inner>,
}

impl Default for Store {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 0,
                tx,
            }),
        }
    }
}

impl Store {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to changes without a snapshot (controllers that re-scan on every change).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.lock().tx.subscribe()
    }
}

pub fn rv_of(obj: &Value) -> &str {
    obj["metadata"]["resourceVersion"].as_str().unwrap_or("")
}

impl Inner {
    pub fn rv(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one resource, optionally restricted to a namespace, in name order.
    pub fn list<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjKey, &'a Value)> {
        let from = ObjKey::new(group, plural, namespace.unwrap_or_default(), "");
        self.objects.range(from..).take_while(move |(k, _)| {
            k.same_resource(group, plural) && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    pub fn all(&self) -> impl Iterator<Item = (&ObjKey, &Value)> {
        self.objects.iter()
    }

    /// Stores `obj` under a fresh resourceVersion and records the event.
    pub fn put(&mut self, key: ObjKey, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let old = self.objects.insert(key.clone(), obj.clone());
        let kind = if old.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        self.record(kind, key, obj.clone(), old);
        obj
    }

    /// Removes the object; the DELETED event carries the version of the deletion.
    pub fn remove(&mut self, key: &ObjKey) -> Option<Value> {
        let old = self.objects.remove(key)?;
        self.rv += 1;
        let mut obj = old.clone();
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(EventKind::Deleted, key.clone(), obj.clone(), Some(old));
        Some(obj)
    }

    fn record(&mut self, kind: EventKind, key: ObjKey, object: Value, old: Option<Value>) {
        let event = Arc::new(Event {
            rv: self.rv,
            kind,
            key,
            object,
            old,
        });
        if self.history.len() == HISTORY
            && let Some(dropped) = self.history.pop_front()
        {
            self.compacted = dropped.rv;
        }
        self.history.push_back(event.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    /// Events after `rv`, or `None` if that version has been compacted (410 Gone).
    pub fn events_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        if rv < self.compacted {
            return None;
        }
        Some(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// One resource's objects as they were at `rv` (rolled back through the event history),
    /// or `None` when that version has been compacted away.
    pub fn snapshot_at(
        &self,
        rv: u64,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Option<BTreeMap<ObjKey, Value>> {
        if rv < self.compacted || rv > self.rv {
            return None;
        }
        let mut objects: BTreeMap<ObjKey, Value> = self
            .list(group, plural, namespace)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ev in self.history.iter().rev().take_while(|e| e.rv > rv) {
            if !ev.key.same_resource(group, plural)
                || namespace.is_some_and(|ns| ev.key.namespace != ns)
            {
                continue;
            }
            match (ev.kind, &ev.old) {
                (EventKind::Added, _) => {
                    objects.remove(&ev.key);
                }
                (_, Some(old)) => {
                    objects.insert(ev.key.clone(), old.clone());
                }
                _ => {}
            }
        }
        Some(objects)
    }

    /// Forgets history up to now, as etcd compaction does; older watches then get 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }
}
