//! `--watch` for `get`: read, render, and repaint when the picture changes. On a terminal the
//! previous frame is overwritten in place (no clearing, so no flicker) and ages tick; elsewhere
//! (a pipe, a log) a new frame is printed only when something other than an age changed.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;

/// One picture: what to print, and what counts as a change (the picture without ages).
pub struct Frame {
    pub text: String,
    pub key: String,
}

/// Repaints `frame()` every `interval` until the process is interrupted.
pub async fn repaint<F, Fut>(interval: Duration, mut frame: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Frame>>,
{
    let terminal = std::io::stdout().is_terminal();
    let mut shown: Option<Frame> = None;
    loop {
        let next = match frame().await {
            Ok(next) => next,
            Err(e) => Frame {
                text: format!("error: {e:#}\n"),
                key: format!("{e:#}"),
            },
        };
        let changed = match &shown {
            None => true,
            Some(old) if terminal => old.text != next.text,
            Some(old) => old.key != next.key,
        };
        if changed {
            let mut out = std::io::stdout().lock();
            match (&shown, terminal) {
                (Some(old), true) => {
                    // Back to the top of the previous frame, overwrite each line, clear the rest.
                    write!(out, "\x1b[{}A\r", old.text.lines().count())?;
                    for line in next.text.lines() {
                        writeln!(out, "{line}\x1b[K")?;
                    }
                    write!(out, "\x1b[J")?;
                }
                (Some(_), false) => write!(out, "\n{}", next.text)?,
                (None, _) => write!(out, "{}", next.text)?,
            }
            out.flush()?;
            shown = Some(next);
        }
        tokio::time::sleep(interval).await;
    }
}
