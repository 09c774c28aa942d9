//! Pipes: the properties on the kernel and the reference, `check pipe`, and
//! plugging in a pipe of one's own.

mod cli;
mod plug_your_own;
mod properties;
