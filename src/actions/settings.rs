//! The regions where 3.0 `InvokeFunction` was refused as unsupported, so
//! that `upstream.sync_action = "auto"` sends `Invoke` there for a while
//! (docs/protocol.md, "InvokeFunction"); the settings themselves are
//! [`super::ActionSettings`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::config::SyncAction;

/// How long a region where 3.0 refused `InvokeFunction` as unsupported is
/// sent `Invoke` instead before `InvokeFunction` is tried again.
pub const FALLBACK_MEMORY: Duration = Duration::from_secs(600);

/// Regions remembered at most; beyond, the oldest entry is forgotten.
const FALLBACK_REGIONS_MAX: usize = 64;

/// Regions remembered for [`FALLBACK_MEMORY`] after a refusal, on tokio's
/// clock (paused in tests), at most 64 of them.
#[derive(Debug, Default)]
pub struct RegionMemory {
    refused: Mutex<HashMap<String, Instant>>,
}

impl RegionMemory {
    /// Remembers that `region` refused, now.
    pub fn remember(&self, region: &str) {
        let now = Instant::now();
        let mut map = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, at| now.duration_since(*at) < FALLBACK_MEMORY);
        if map.len() >= FALLBACK_REGIONS_MAX && !map.contains_key(region) {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(r, _)| r.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(region.to_owned(), now);
    }

    /// Whether `region` refused less than [`FALLBACK_MEMORY`] ago.
    pub fn remembers(&self, region: &str) -> bool {
        let map = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        map.get(region)
            .is_some_and(|at| Instant::now().duration_since(*at) < FALLBACK_MEMORY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_remembered_for_a_while_per_region() {
        let m = RegionMemory::default();
        assert!(!m.remembers("ap-bangkok"));
        m.remember("ap-bangkok");
        assert!(m.remembers("ap-bangkok"));
        assert!(!m.remembers("ap-guangzhou"));
        tokio::time::advance(FALLBACK_MEMORY - Duration::from_secs(1)).await;
        assert!(m.remembers("ap-bangkok"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!m.remembers("ap-bangkok"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_memory_is_bounded() {
        let m = RegionMemory::default();
        for i in 0..(FALLBACK_REGIONS_MAX + 10) {
            m.remember(&format!("ap-r{i}"));
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(m.refused.lock().unwrap().len(), FALLBACK_REGIONS_MAX);
        assert!(!m.remembers("ap-r0"));
        assert!(m.remembers(&format!("ap-r{}", FALLBACK_REGIONS_MAX + 9)));
    }
}
