//! Running a future on the current task up to its first wait.

/// Polls `work` once on the calling task and hands it to a task of its own
/// only if it has to wait. Work that completes at once (a response that goes
/// straight out, a publish the transport took at once) costs no task and no
/// wake-up.
///
/// The first poll uses a no-op waker; that is sound because a spawned task
/// is polled at once, which registers its real waker with whatever the work
/// waits on.
pub(crate) fn run_here_first(work: impl Future<Output = ()> + Send + 'static) {
    let mut work = Box::pin(work);
    let mut first_poll = std::task::Context::from_waker(std::task::Waker::noop());
    if work.as_mut().poll(&mut first_poll).is_pending() {
        tokio::spawn(work);
    }
}
