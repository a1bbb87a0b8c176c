//! The terminal side of `psrpc top`: raw mode and the alternate screen
//! (restored on every way out: `q`, Ctrl-C, an error, a panic, SIGTERM or
//! SIGHUP), and the loop that draws on each refresh and key.

use std::time::SystemTime;

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt as _;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use super::app::{App, Step};
use super::rates::ServiceRow;
use super::view::{self, Banner};
use crate::exit::Failure;

/// The terminal in raw mode on the alternate screen; dropping it restores it.
struct Screen {
    terminal: DefaultTerminal,
}

impl Screen {
    /// Raw mode and the alternate screen; a panic restores the terminal before it prints.
    fn open() -> Result<Self, Failure> {
        match ratatui::try_init() {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                ratatui::restore();
                Err(Failure::unavailable(format!("top needs a terminal: {e}")))
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

fn drawing_failed(e: std::io::Error) -> Failure {
    Failure::unavailable(format!("terminal: {e}"))
}

/// Shows the refreshes that come on `refreshes` until `q` or Ctrl-C (or
/// the refreshes end).
pub(crate) async fn run(
    mut refreshes: mpsc::Receiver<Result<(Vec<ServiceRow>, SystemTime), String>>,
    banner: Banner,
) -> Result<(), Failure> {
    let mut stopped = Box::pin(stop_signal());
    let mut screen = Screen::open()?;
    let mut events = EventStream::new();
    let mut app = App::default();
    loop {
        screen.terminal.draw(|frame| view::draw(frame, &app, &banner)).map_err(drawing_failed)?;
        tokio::select! {
            refresh = refreshes.recv() => match refresh {
                Some(Ok((rows, at))) => app.update(rows, at),
                Some(Err(error)) => app.failed(error),
                None => return Ok(()),
            },
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    if app.key(key) == Step::Quit {
                        return Ok(());
                    }
                }
                // A resize (or anything else): drawn again.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(drawing_failed(e)),
                None => return Ok(()),
            },
            () = &mut stopped => return Ok(()),
        }
    }
}

/// Resolves on SIGTERM or SIGHUP (the terminal closed), so that the
/// terminal is restored before the process ends; never where they do not exist.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut terminate), Ok(mut hangup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
            tokio::select! {
                _ = terminate.recv() => return,
                _ = hangup.recv() => return,
            }
        }
    }
    std::future::pending().await
}
