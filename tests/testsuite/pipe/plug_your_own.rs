//! How to check your own pipe: implement `PipeImpl`, `PipeReader` and
//! `PipeWriter`, build `spec::pipe::suite`, run it. Here the pipe is a tiny
//! wrapper over the reference that counts the bytes it moves.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ipcspec::reference::pipe::{Bounded, PipeImpl, PipeReader, PipeWriter};
use ipcspec::spec::{pipe, Ctx, Selection};

/// My pipe: the reference, plus a count of bytes read and written.
#[derive(Default)]
struct CountingPipe {
    moved: Arc<AtomicU64>,
}

struct CountingReader(Box<dyn PipeReader>, Arc<AtomicU64>);
struct CountingWriter(Box<dyn PipeWriter>, Arc<AtomicU64>);

impl PipeImpl for CountingPipe {
    fn name(&self) -> &str {
        "counting"
    }

    fn open(
        &self,
        capacity: Option<usize>,
    ) -> io::Result<(Box<dyn PipeReader>, Box<dyn PipeWriter>)> {
        let (reader, writer) = Bounded.open(capacity)?;
        Ok((
            Box::new(CountingReader(reader, self.moved.clone())),
            Box::new(CountingWriter(writer, self.moved.clone())),
        ))
    }
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl PipeReader for CountingReader {
    fn try_clone(&self) -> io::Result<Box<dyn PipeReader>> {
        Ok(Box::new(CountingReader(
            self.0.try_clone()?,
            self.1.clone(),
        )))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking)
    }
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl PipeWriter for CountingWriter {
    fn try_clone(&self) -> io::Result<Box<dyn PipeWriter>> {
        Ok(Box::new(CountingWriter(
            self.0.try_clone()?,
            self.1.clone(),
        )))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking)
    }

    fn capacity(&self) -> io::Result<usize> {
        self.0.capacity()
    }
}

#[test]
fn a_plugged_in_pipe_runs_the_whole_suite() {
    let mine = Arc::new(CountingPipe::default());
    let moved = mine.moved.clone();
    let suite = pipe::suite("counting", mine);
    assert_eq!(
        suite.checks.len(),
        pipe::PROPERTIES.len(),
        "every property applies to every pipe"
    );

    let report = suite.run(&Ctx::default(), &Selection::default(), None);

    for result in &report.results {
        match (result.meta.id, result.verdict.name()) {
            // A user-space pipe has no descriptor for a signal to come from.
            ("pipe.sigpipe.default-kills-writer", "skip") => {}
            (_, "pass") => {}
            (id, verdict) => panic!("{id}: {verdict}: {:#?}", result.verdict),
        }
    }
    assert_eq!(report.results.len(), pipe::PROPERTIES.len());
    assert!(
        moved.load(Ordering::Relaxed) > 0,
        "the suite went through my pipe"
    );
}
