//! The kernel's pipe behind the [`PipeImpl`] traits: the oracle every
//! property is first checked against.
//!
//! Both ends are created close-on-exec, so a program the suite starts never
//! inherits them. Capacity is set with `F_SETPIPE_SZ`, which rounds up to a
//! power-of-two number of pages; `capacity()` reads back what was granted.
//!
//! `O_NONBLOCK` belongs to the open file description, not to the descriptor:
//! a handle and its clones (made by `dup(2)`) share it, so switching one
//! switches them all. No property depends on it being per handle.
//!
//! # References
//! - [pipe2(2)](https://man7.org/linux/man-pages/man2/pipe2.2.html)
//! - [fcntl(2), "Changing the capacity of a pipe"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//! - [dup(2)](https://man7.org/linux/man-pages/man2/dup.2.html)

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::{PipeImpl, PipeReader, PipeWriter};

/// The kernel's `pipe(2)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kernel;

impl PipeImpl for Kernel {
    fn name(&self) -> &str {
        "kernel"
    }

    fn kernel_descriptors(&self) -> bool {
        true
    }

    fn open(
        &self,
        capacity: Option<usize>,
    ) -> io::Result<(Box<dyn PipeReader>, Box<dyn PipeWriter>)> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        if let Some(capacity) = capacity {
            let size =
                i32::try_from(capacity).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            fcntl(&write, FcntlArg::F_SETPIPE_SZ(size))?;
        }
        Ok((
            Box::new(End(File::from(read))),
            Box::new(End(File::from(write))),
        ))
    }
}

/// Either end of a kernel pipe: the descriptor, read and written with `read(2)`/`write(2)`.
struct End(File);

impl End {
    fn duplicate(&self) -> io::Result<End> {
        // File::try_clone uses F_DUPFD_CLOEXEC: the clone stays close-on-exec.
        Ok(End(self.0.try_clone()?))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let mut flags = OFlag::from_bits_truncate(fcntl(&self.0, FcntlArg::F_GETFL)?);
        flags.set(OFlag::O_NONBLOCK, nonblocking);
        fcntl(&self.0, FcntlArg::F_SETFL(flags))?;
        Ok(())
    }
}

impl Read for End {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for End {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl PipeReader for End {
    fn try_clone(&self) -> io::Result<Box<dyn PipeReader>> {
        Ok(Box::new(self.duplicate()?))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        End::set_nonblocking(self, nonblocking)
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0.as_fd())
    }
}

impl PipeWriter for End {
    fn try_clone(&self) -> io::Result<Box<dyn PipeWriter>> {
        Ok(Box::new(self.duplicate()?))
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        End::set_nonblocking(self, nonblocking)
    }

    fn capacity(&self) -> io::Result<usize> {
        let size = fcntl(&self.0, FcntlArg::F_GETPIPE_SZ)?;
        Ok(usize::try_from(size).unwrap_or(0))
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0.as_fd())
    }
}
