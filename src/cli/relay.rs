//! `ipcspec relay` (the reference relay) and `ipcspec check relay`.

/// Runs the reference relay on stdin and stdout.
pub fn relay() -> anyhow::Result<i32> {
    Ok(ipcspec::reference::relay::run()?)
}
