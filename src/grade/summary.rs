//! The grading summary: `summary.csv` for spreadsheets, a table for the
//! terminal, JSON for scripts. One row per submission: name, profile,
//! variant, status, passed, failed, score, max_score, first failing property
//! and a note saying why when there is no verdict.

use std::io::{self, Write};
use std::path::Path;

use super::Graded;

/// The CSV columns, in order.
const COLUMNS: [&str; 10] = [
    "name",
    "profile",
    "variant",
    "status",
    "passed",
    "failed",
    "score",
    "max_score",
    "first_failure",
    "note",
];

fn row(g: &Graded) -> [String; 10] {
    [
        g.name.clone(),
        g.profile.clone(),
        g.variant.clone().unwrap_or_default(),
        g.status.name().to_string(),
        g.passed.to_string(),
        g.failed.to_string(),
        points(g.score),
        points(g.max_score),
        g.first_failure.clone().unwrap_or_default(),
        g.note.clone().unwrap_or_default(),
    ]
}

/// Points without a needless `.0`.
fn points(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// Writes the summary as CSV to `out`.
pub fn write_csv(graded: &[Graded], out: impl Write) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(COLUMNS)?;
    for g in graded {
        writer.write_record(row(g))?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes the summary as CSV to the file at `path`.
pub fn save_csv(graded: &[Graded], path: &Path) -> Result<(), csv::Error> {
    write_csv(graded, std::fs::File::create(path)?)
}

/// Writes the summary as an aligned table, the note last and unpadded.
pub fn write_table(graded: &[Graded], out: &mut dyn Write) -> io::Result<()> {
    let header = [
        "name",
        "profile",
        "variant",
        "status",
        "passed",
        "failed",
        "score",
        "first failure / note",
    ];
    let rows: Vec<[String; 8]> = graded
        .iter()
        .map(|g| {
            let r = row(g);
            let why = g
                .first_failure
                .clone()
                .or_else(|| g.note.clone())
                .unwrap_or_default();
            [
                r[0].clone(),
                r[1].clone(),
                r[2].clone(),
                r[3].clone(),
                r[4].clone(),
                r[5].clone(),
                format!("{}/{}", r[6], r[7]),
                why,
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        text.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    let passed = graded
        .iter()
        .filter(|g| g.status == super::Status::Pass)
        .count();
    writeln!(
        out,
        "{} submissions: {passed} pass, {} do not",
        graded.len(),
        graded.len() - passed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::Status;

    fn graded(
        name: &str,
        status: Status,
        first_failure: Option<&str>,
        note: Option<&str>,
    ) -> Graded {
        Graded {
            name: name.into(),
            profile: "server".into(),
            variant: Some("fork".into()),
            status,
            passed: 3,
            failed: 1,
            score: 3.0,
            max_score: 4.5,
            first_failure: first_failure.map(str::to_string),
            note: note.map(str::to_string),
            seconds: 1.0,
        }
    }

    #[test]
    fn csv_has_one_row_per_submission_with_quoted_notes() {
        let rows = [
            graded("alice", Status::Fail, Some("server.echo.one-line"), None),
            graded(
                "bob",
                Status::BuildFailed,
                None,
                Some("build exited with status 2: x.c:1: error, bad"),
            ),
        ];
        let mut out = Vec::new();
        write_csv(&rows, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "name,profile,variant,status,passed,failed,score,max_score,first_failure,note"
        );
        assert_eq!(
            lines[1],
            "alice,server,fork,fail,3,1,3,4.50,server.echo.one-line,"
        );
        assert_eq!(lines[2], "bob,server,fork,build-failed,3,1,3,4.50,,\"build exited with status 2: x.c:1: error, bad\"");
    }

    #[test]
    fn the_table_aligns_columns_and_counts_passes() {
        let rows = [
            graded("alice", Status::Pass, None, None),
            graded(
                "bartholomew",
                Status::Fail,
                Some("server.echo.one-line"),
                None,
            ),
        ];
        let mut out = Vec::new();
        write_table(&rows, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1].find("server"), lines[2].find("server"));
        assert!(lines[2].ends_with("server.echo.one-line"));
        assert_eq!(lines[3], "2 submissions: 1 pass, 1 do not");
    }
}
