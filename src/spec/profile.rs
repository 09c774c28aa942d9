//! The registry of profiles: one table from which everything that names a
//! profile derives — the catalog, the CLI's `check` subcommands and their
//! help, the gradable profiles, the conformance harness and the benchmark.
//!
//! Each [`Profile`] has exactly one [`ProfileSpec`], chosen by an exhaustive
//! `match` in [`Profile::spec`], and [`Profile::ALL`] lists every profile
//! once (a unit test holds the two together). Adding a profile is a variant
//! here, its entry, and its own `spec` area.

use super::{client, http, pipe, relay, server, shell, socket, Meta, Property, References, Suite};
use crate::target::{CommandSpec, TargetError, UsageError};

/// The kind of program a property is about; one `check` subcommand each.
///
/// `ValueEnum` lists every variant (`list --profile` takes them, with these
/// docs as help), so a unit test can hold [`Profile::ALL`] to the enum itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Profile {
    /// A pipe implementation (kernel `pipe(2)`, the reference, or yours).
    Pipe,
    /// Kernel stream sockets: socketpair, TCP loopback, Unix.
    Socket,
    /// An echo server of a given variant.
    Server,
    /// The lecture's line client.
    Client,
    /// A fork + pipe relay from stdin to stdout.
    Relay,
    /// A shell that runs pipelines.
    Shell,
    /// A static-file web server of a given variant.
    Http,
}

/// Everything ipcspec knows about one profile, apart from its properties' code.
pub struct ProfileSpec {
    /// The profile's name, as the CLI, IDs and manifests spell it.
    pub name: &'static str,
    /// One line on what `check NAME` checks: its help.
    pub about: &'static str,
    /// Its properties' metadata, in catalog order.
    pub properties: fn() -> Vec<&'static Meta>,
    /// Rules of another profile its checks apply too (the server model's,
    /// for `http`), in catalog order: listed with it, owned by the other.
    pub shared: fn() -> Vec<&'static Meta>,
    /// The suites of the kernel and the built-in references: what `check
    /// NAME` runs without a command, and what `cargo test` runs.
    pub reference_suites: fn(&References) -> Vec<Suite>,
    /// How a program under test is given, for profiles that check one
    /// (gradable); `None` for those that check in-process implementations only.
    pub target: Option<TargetForm>,
    /// The variants a target claims, for profiles that have them.
    pub variants: Option<Variants>,
    /// A choice among the reference suites by label, for profiles whose
    /// references are alternatives to each other (`check pipe --impl kernel`).
    pub choice: Option<Choice>,
}

/// How a profile checks a program under test.
pub struct TargetForm {
    /// Help for the command after `--`: the placeholders it must or may
    /// mention, and what runs without one.
    pub command_help: &'static str,
    /// The suite for a command claiming a variant; an error when the request
    /// is unusable (missing placeholder, unknown variant, no such program).
    pub suite: fn(CommandSpec, Option<&str>, &References) -> Result<Suite, TargetError>,
}

/// The variants of a profile (`--variant`).
pub struct Variants {
    /// Help for `--variant`: the accepted values, and what it means without a command.
    pub help: &'static str,
    /// The reference suites of one variant, for `--variant V` without a command.
    pub references_of: fn(&str, &References) -> Result<Vec<Suite>, UsageError>,
}

/// A choice among a profile's reference suites, by label.
pub struct Choice {
    /// The option's long name (`impl` for `--impl`).
    pub flag: &'static str,
    /// What the help calls its value.
    pub value_name: &'static str,
    /// The option's help.
    pub help: &'static str,
    /// The labels to choose from, each with its help.
    pub labels: &'static [(&'static str, &'static str)],
}

fn metas<S: ?Sized>(properties: &'static [Property<S>]) -> Vec<&'static Meta> {
    properties.iter().map(|p| &p.meta).collect()
}

static PIPE: ProfileSpec = ProfileSpec {
    name: "pipe",
    about: "The pipe properties, on the kernel's pipe(2) and the reference pipe",
    properties: || metas(pipe::PROPERTIES),
    shared: Vec::new,
    reference_suites: |_| pipe::reference_suites(),
    target: None,
    variants: None,
    choice: Some(Choice {
        flag: "impl",
        value_name: "IMPLEMENTATION",
        help: "Check only this implementation (default: both)",
        labels: &[
            ("kernel", "The kernel's pipe(2)"),
            ("reference", "The reference in-memory pipe"),
        ],
    }),
};

static SOCKET: ProfileSpec = ProfileSpec {
    name: "socket",
    about: "The socket properties, on the kernel's socketpair, TCP (IPv4, IPv6) and Unix sockets",
    properties: || metas(socket::PROPERTIES),
    shared: Vec::new,
    reference_suites: |_| socket::reference_suites(),
    target: None,
    variants: None,
    choice: None,
};

static SERVER: ProfileSpec = ProfileSpec {
    name: "server",
    about: "An echo server: any command, checked to be the variant it claims",
    properties: || metas(server::PROPERTIES),
    shared: Vec::new,
    reference_suites: server::reference_suites,
    target: Some(TargetForm {
        command_help: "The server's command line, with {port} (TCP on 127.0.0.1) or {socket} (a Unix socket path) where it takes its address. Without one, the reference servers are checked",
        suite: server::target_suite,
    }),
    variants: Some(Variants {
        help: "The variant the server claims: sequential, fork-wait, fork, thread, pool:N or event-loop. Without a command, the reference of that variant is checked",
        references_of: server::reference_suites_of,
    }),
    choice: None,
};

static CLIENT: ProfileSpec = ProfileSpec {
    name: "client",
    about: "The client properties, on the reference client or on `-- CMD ARGS` (with `{host}`, `{port}`)",
    properties: || metas(client::PROPERTIES),
    shared: Vec::new,
    reference_suites: client::reference_suites,
    target: Some(TargetForm {
        command_help: "The client to check, after `--`; `{host}` and `{port}` are filled in (`{port}` is required). Without it, the reference client is checked",
        suite: |command, _, refs| client::target_suite(command, refs),
    }),
    variants: None,
    choice: None,
};

static RELAY: ProfileSpec = ProfileSpec {
    name: "relay",
    about: "The relay properties, on the reference relay or on a command",
    properties: || metas(relay::PROPERTIES),
    shared: Vec::new,
    reference_suites: relay::reference_suites,
    target: Some(TargetForm {
        command_help: "The relay to check, after `--` (default: the reference relay)",
        suite: |command, _, refs| relay::target_suite(command, refs),
    }),
    variants: None,
    choice: None,
};

static SHELL: ProfileSpec = ProfileSpec {
    name: "shell",
    about: "The shell properties, on the reference shell and installed shells, or on a command",
    properties: || metas(shell::PROPERTIES),
    shared: Vec::new,
    reference_suites: shell::reference_suites,
    target: Some(TargetForm {
        command_help: "The shell to check, after `--` (default: the reference shell, bash, dash and busybox sh)",
        suite: |command, _, refs| shell::target_suite(command, refs),
    }),
    variants: None,
    choice: None,
};

static HTTP: ProfileSpec = ProfileSpec {
    name: "http",
    about: "A static-file web server: any command, serving a generated document root as the variant it claims",
    properties: || metas(http::PROPERTIES),
    shared: || server::model().map(|p| &p.meta).collect(),
    reference_suites: http::reference_suites,
    target: Some(TargetForm {
        command_help: "The web server's command line, with {port} (TCP on 127.0.0.1) or {socket} (a Unix socket path) where it takes its address, and {dir} where it takes the directory to serve (the check fills it with a document root generated from --seed). Without one, the reference web servers are checked",
        suite: http::target_suite,
    }),
    variants: Some(Variants {
        help: "The variant the web server claims: sequential, fork-wait, fork, thread, pool:N or event-loop. Without a command, the reference of that variant is checked",
        references_of: http::reference_suites_of,
    }),
    choice: None,
};

impl Profile {
    /// Every profile, in catalog order.
    pub const ALL: [Profile; 7] = [
        Profile::Pipe,
        Profile::Socket,
        Profile::Server,
        Profile::Client,
        Profile::Relay,
        Profile::Shell,
        Profile::Http,
    ];

    /// The profile's entry in the registry.
    pub fn spec(self) -> &'static ProfileSpec {
        match self {
            Profile::Pipe => &PIPE,
            Profile::Socket => &SOCKET,
            Profile::Server => &SERVER,
            Profile::Client => &CLIENT,
            Profile::Relay => &RELAY,
            Profile::Shell => &SHELL,
            Profile::Http => &HTTP,
        }
    }

    /// The profile's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The profile called `name`, if any.
    pub fn named(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the profile checks a program given as a command, and so can grade one.
    pub fn is_gradable(self) -> bool {
        self.spec().target.is_some()
    }

    /// The profiles that check a program given as a command.
    pub fn gradable() -> impl Iterator<Item = Profile> + Clone {
        Profile::ALL.into_iter().filter(|p| p.is_gradable())
    }

    /// The suites of the kernel and the built-in references.
    pub fn reference_suites(self, refs: &References) -> Vec<Suite> {
        (self.spec().reference_suites)(refs)
    }

    /// The suite that checks `command` claiming `variant`; an error when the
    /// request is unusable, including a command for a profile that takes
    /// none, and a variant for a profile that has none.
    pub fn target_suite(
        self,
        command: CommandSpec,
        variant: Option<&str>,
        refs: &References,
    ) -> Result<Suite, TargetError> {
        let spec = self.spec();
        let target = spec.target.as_ref().ok_or(UsageError::BuiltInOnly {
            profile: self.name(),
        })?;
        if let (Some(given), None) = (variant, &spec.variants) {
            return Err(UsageError::NoVariants {
                profile: self.name(),
                given: given.to_string(),
            }
            .into());
        }
        (target.suite)(command, variant, refs)
    }
}

impl serde::Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_is_registered_once_with_properties_named_after_it() {
        use clap::ValueEnum;
        assert_eq!(
            Profile::ALL[..],
            *Profile::value_variants(),
            "Profile::ALL lists every profile once, in declaration order"
        );
        for profile in Profile::ALL {
            let parsed = profile
                .to_possible_value()
                .map(|v| v.get_name().to_string());
            assert_eq!(
                parsed.as_deref(),
                Some(profile.name()),
                "{profile:?}: two names"
            );
            assert_eq!(Profile::named(profile.name()), Some(profile));
            let properties = (profile.spec().properties)();
            assert!(!properties.is_empty(), "{profile:?} has no property");
            for meta in properties {
                assert_eq!(meta.profile, profile, "{} is in the wrong table", meta.id);
                assert!(
                    meta.id.starts_with(&format!("{}.", profile.name())),
                    "{} must start with `{}.`",
                    meta.id,
                    profile.name()
                );
            }
        }
    }

    #[test]
    fn a_choice_names_the_labels_of_the_reference_suites() {
        // Only in-process references: building these suites starts nothing.
        let refs = References { bin: "x".into() };
        for profile in Profile::ALL {
            if let Some(choice) = &profile.spec().choice {
                let labels: Vec<_> = profile
                    .reference_suites(&refs)
                    .into_iter()
                    .map(|suite| suite.label)
                    .collect();
                let offered: Vec<_> = choice.labels.iter().map(|(label, _)| *label).collect();
                assert_eq!(offered, labels, "{profile:?}: a choice chooses by label");
            }
        }
    }

    #[test]
    fn only_profiles_that_take_a_command_are_gradable_or_have_variants() {
        for profile in Profile::ALL {
            let spec = profile.spec();
            if spec.variants.is_some() {
                assert!(spec.target.is_some(), "{profile:?}: variants of what?");
            } else if spec.target.is_some() {
                let command = CommandSpec::new(&["sh".to_string()]).unwrap();
                let refs = References { bin: "x".into() };
                assert!(matches!(
                    profile.target_suite(command, Some("fork"), &refs),
                    Err(TargetError::Usage(UsageError::NoVariants { .. }))
                ));
            }
            if spec.target.is_none() {
                let command = CommandSpec::new(&["x".to_string()]).unwrap();
                let refs = References { bin: "x".into() };
                assert!(matches!(
                    profile.target_suite(command, None, &refs),
                    Err(TargetError::Usage(UsageError::BuiltInOnly { .. }))
                ));
            }
        }
        assert_eq!(
            Profile::gradable().map(Profile::name).collect::<Vec<_>>(),
            ["server", "client", "relay", "shell", "http"]
        );
    }
}
