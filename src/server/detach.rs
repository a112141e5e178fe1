//! A request's work that outlives its client: polled in place, on the
//! connection's own task, while hyper waits for the answer; when hyper drops
//! it unfinished (the client went away), what is left is handed to a task
//! of its own and runs to its end. So the common case costs no task spawn
//! and no cross-task wake-up per request, and the rare one keeps the rule
//! that a request, once started, is seen through (a 3.0 call is never cut
//! halfway) and logged once (docs/operations.md, "Clients that go away").

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// See the module documentation.
pub struct Detaching<F: Future + Send + 'static>
where
    F::Output: Send + 'static,
{
    work: Option<Pin<Box<F>>>,
}

impl<F: Future + Send + 'static> Detaching<F>
where
    F::Output: Send + 'static,
{
    pub fn new(work: F) -> Self {
        Detaching {
            work: Some(Box::pin(work)),
        }
    }
}

impl<F: Future + Send + 'static> Future for Detaching<F>
where
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(work) = self.work.as_mut() else {
            // Only reachable by polling again after completion.
            return Poll::Pending;
        };
        let out = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        Poll::Ready(out)
    }
}

impl<F: Future + Send + 'static> Drop for Detaching<F>
where
    F::Output: Send + 'static,
{
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        // Without a runtime (the process is ending) nothing can run it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _answer_nobody_waits_for = work.await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn finished_work_gives_its_output_in_place() {
        let steps = Arc::new(AtomicUsize::new(0));
        let s = steps.clone();
        let out = Detaching::new(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            s.fetch_add(1, Ordering::SeqCst);
            7
        })
        .await;
        assert_eq!(out, 7);
        assert_eq!(steps.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn work_dropped_halfway_runs_to_its_end_on_its_own() {
        let steps = Arc::new(AtomicUsize::new(0));
        let s = steps.clone();
        let work = Detaching::new(async move {
            s.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(10)).await;
            s.fetch_add(1, Ordering::SeqCst);
        });
        // The waiter gives up after 1 s, with the work halfway.
        let gave_up = tokio::time::timeout(Duration::from_secs(1), work).await;
        assert!(gave_up.is_err());
        assert_eq!(steps.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            steps.load(Ordering::SeqCst),
            2,
            "the rest ran after the drop"
        );
    }

    #[tokio::test]
    async fn work_never_polled_still_runs_when_dropped() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        drop(Detaching::new(async move {
            let _ = tx.send("ran");
        }));
        assert_eq!(rx.await, Ok("ran"));
    }
}
