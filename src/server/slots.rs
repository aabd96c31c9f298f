//! The bound on open connections per port, and who makes room when it is reached.
//!
//! A full port must not starve the apiserver: a client holding every slot with idle sockets
//! would otherwise keep new connections waiting in the kernel's backlog. So a new connection
//! is always admitted, and when every slot is taken the *oldest idle* connection (handshaking,
//! or between requests) is closed to make room. A connection with a request in flight is
//! asked to close only when no idle one is left, and then gracefully: its request finishes
//! (bounded by the body-read timeout) and the newcomer waits for that slot. Open connections
//! never exceed the bound, so neither do their tasks and buffers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::metrics::{EvictLabels, EvictedState, Metrics};

/// One open connection as the bound sees it.
#[derive(Debug, Default)]
pub struct Slot {
    /// Requests being served on it now (h2 may have several).
    in_request: AtomicUsize,
    /// A request has started on it at some point (the first-request deadline is over).
    served: AtomicBool,
    /// Set once it has been chosen to make room, so it is not chosen twice.
    evicting: AtomicBool,
    /// Wakes the connection's task when it must close.
    evict: Notify,
}

impl Slot {
    pub fn is_idle(&self) -> bool {
        self.in_request.load(Ordering::Acquire) == 0
    }

    pub fn has_served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub fn request(self: &Arc<Self>) -> InRequest {
        self.in_request.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Relaxed);
        InRequest(self.clone())
    }

    /// Completes once this connection has been chosen to make room for a newer one.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// Held while a request is served; see [`Slot::request`].
#[derive(Debug)]
pub struct InRequest(Arc<Slot>);

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.in_request.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections of one port, oldest first.
#[derive(Debug)]
pub struct Slots {
    permits: Arc<Semaphore>,
    open: Mutex<Open>,
    metrics: Option<Arc<Metrics>>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    /// By admission order: the first entry is the oldest connection.
    by_age: BTreeMap<u64, Arc<Slot>>,
}

impl Slots {
    pub fn new(max: usize, metrics: Option<Arc<Metrics>>) -> Arc<Slots> {
        Arc::new(Slots {
            permits: Arc::new(Semaphore::new(max.max(1))),
            open: Mutex::default(),
            metrics,
        })
    }

    /// A slot for a connection just accepted. When the bound is reached, the oldest idle
    /// connection is closed at once; if every connection is in a request, the oldest is asked
    /// to finish and close, and this waits for its slot.
    pub async fn admit(self: &Arc<Self>) -> Admitted {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.evict_oldest();
                match self.permits.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    // The semaphore is never closed; a closed one has nothing to bound.
                    Err(_) => return self.register(None),
                }
            }
        };
        self.register(Some(permit))
    }

    fn register(self: &Arc<Self>, permit: Option<OwnedSemaphorePermit>) -> Admitted {
        let slot = Arc::new(Slot::default());
        let id = {
            let mut open = self.lock();
            let id = open.next;
            open.next += 1;
            open.by_age.insert(id, slot.clone());
            id
        };
        if let Some(m) = &self.metrics {
            m.server.connections_open.inc();
        }
        Admitted {
            slot,
            id,
            slots: self.clone(),
            _permit: permit,
        }
    }

    /// Chooses the oldest idle connection not already closing, else the oldest in a request,
    /// and tells it to close. Nothing to choose means every one is already closing.
    fn evict_oldest(&self) {
        let victim = {
            let open = self.lock();
            let candidates = || {
                open.by_age
                    .values()
                    .filter(|s| !s.evicting.load(Ordering::Acquire))
            };
            let idle = candidates().find(|s| s.is_idle()).cloned();
            idle.or_else(|| candidates().next().cloned())
        };
        let Some(victim) = victim else {
            return;
        };
        let state = if victim.is_idle() {
            EvictedState::Idle
        } else {
            EvictedState::InRequest
        };
        victim.evicting.store(true, Ordering::Release);
        // `notify_one` keeps the wake-up if the task is not waiting at this moment.
        victim.evict.notify_one();
        tracing::debug!(?state, "connection bound reached; closing the oldest");
        if let Some(m) = &self.metrics {
            m.server
                .connections_evicted
                .get_or_create(&EvictLabels { state })
                .inc();
        }
    }

    /// Connections holding a slot now.
    pub fn len(&self) -> usize {
        self.lock().by_age.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // The map stays consistent whatever panicked while holding it (single inserts/removes).
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's hold on its slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Admitted {
    pub slot: Arc<Slot>,
    id: u64,
    slots: Arc<Slots>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.slots.lock().by_age.remove(&self.id);
        if let Some(m) = &self.slots.metrics {
            m.server.connections_open.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn evicted_within(slot: &Slot, within: Duration) -> bool {
        tokio::time::timeout(within, slot.evicted()).await.is_ok()
    }

    #[tokio::test]
    async fn the_oldest_idle_connection_makes_room_and_requests_survive() {
        let metrics = Arc::new(Metrics::new());
        let slots = Slots::new(3, Some(metrics.clone()));
        let busy = slots.admit().await;
        let request = busy.slot.request();
        let idle_old = slots.admit().await;
        let idle_new = slots.admit().await;
        assert_eq!(slots.len(), 3);
        assert_eq!(metrics.server.connections_open.get(), 3);

        // Full: the oldest *idle* one is chosen, not the older one in a request.
        let admitting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.admit().await }
        });
        assert!(evicted_within(&idle_old.slot, Duration::from_secs(5)).await);
        assert!(!evicted_within(&busy.slot, Duration::from_millis(50)).await);
        assert!(!evicted_within(&idle_new.slot, Duration::from_millis(10)).await);
        drop(idle_old);
        let fourth = admitting.await.expect("admitted");
        assert_eq!(slots.len(), 3);
        let idle = EvictLabels {
            state: EvictedState::Idle,
        };
        assert_eq!(
            metrics
                .server
                .connections_evicted
                .get_or_create(&idle)
                .get(),
            1
        );

        // The oldest idle one goes next; once only requests are left, the oldest is asked.
        let _r2 = fourth.slot.request();
        let admitting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.admit().await }
        });
        assert!(evicted_within(&idle_new.slot, Duration::from_secs(5)).await);
        drop(idle_new);
        let fifth = admitting.await.expect("admitted");
        let _r3 = fifth.slot.request();
        let admitting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.admit().await }
        });
        assert!(evicted_within(&busy.slot, Duration::from_secs(5)).await);
        // It waits for the request to end rather than exceed the bound.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!admitting.is_finished());
        assert_eq!(slots.len(), 3);
        drop(request);
        drop(busy);
        let _sixth = admitting.await.expect("admitted");
        assert_eq!(metrics.server.connections_open.get(), 3);
        let in_request = EvictLabels {
            state: EvictedState::InRequest,
        };
        assert_eq!(
            metrics
                .server
                .connections_evicted
                .get_or_create(&in_request)
                .get(),
            1
        );
    }
}
