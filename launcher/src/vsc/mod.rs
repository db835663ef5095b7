//! vsc-zk compatibility for `zkrsync`: its command line ([`cli`]: `-S`, `-D`, `--state`,
//! `--pathsonly` and their options, translated to zkrsync's subcommands) and its
//! `zkrs.conf` ([`config`]: `--config FILE`, whose values become options).

pub mod cli;
pub mod config;
