//! The JSON report: `{"reports": [...]}`, each property with `id` and `verdict`.

use std::io::{self, Write};

use super::Report;

pub(super) fn render(reports: &[Report], out: &mut dyn Write) -> io::Result<()> {
    let doc = serde_json::json!({
        "ipcspec": env!("CARGO_PKG_VERSION"),
        "exit_code": super::exit_code(reports),
        "reports": reports,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}
