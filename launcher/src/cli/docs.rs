//! Shell completions and man pages, generated from a program's clap definition so they
//! never drift from its options. `zkrsync` has them as subcommands (`zkrsync completions
//! SHELL`, `zkrsync man DIR`); `zkrsync-launch` and `zkinitree`, which have no subcommands
//! but a required host file or config, as hidden flags that need nothing else
//! (`--completions SHELL`, `--man DIR`: [`with_doc_flags`], [`answer_doc_flags`]).
//!
//! A man page has clap_mangen's sections (name, synopsis, description, options,
//! subcommands, version), the notes of the program's `after_help` (`NOTES`), and its exit
//! codes (`EXIT STATUS`, one entry a code), read from the `Exit codes:` paragraph that
//! [`exit_code::help`] wrote there, so `--help` and the page say the same.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Arg, ArgAction, ArgMatches, Command};
use clap_complete::Shell;
use roff::{bold, roman, Roff};
use zkrsync_core::protocol::exit_code;

/// Writes `cmd`'s completion script for `shell` to `out`.
pub fn completions(mut cmd: Command, shell: Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Writes the man pages of `cmd` and of each of its visible subcommands (`zkrsync.1`,
/// `zkrsync-source.1`, …) into `dir`, made if missing; returns their paths.
pub fn man_pages(cmd: Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot make the directory {} for the man pages",
            dir.display()
        )
    })?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, dir, &mut written)?;
    Ok(written)
}

fn write_pages(cmd: &Command, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let file = dir.join(man.get_filename());
    let mut page = Vec::new();
    render(&man, cmd, &mut page)?;
    std::fs::write(&file, page).with_context(|| format!("cannot write {}", file.display()))?;
    written.push(file);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}

/// `cmd`'s page: clap_mangen's sections, with `after_help` split into notes and exit codes.
fn render(man: &clap_mangen::Man, cmd: &Command, out: &mut dyn Write) -> std::io::Result<()> {
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let (notes, codes) = split_after_help(&after);
    let mut roff = Roff::new();
    if !notes.is_empty() {
        roff.control("SH", ["NOTES"]);
        for paragraph in &notes {
            roff.control("PP", []);
            roff.text([roman(paragraph.as_str())]);
        }
    }
    if !codes.is_empty() {
        roff.control("SH", ["EXIT STATUS"]);
        for (code, meaning) in &codes {
            roff.control("TP", []);
            roff.text([bold(code.as_str())]);
            roff.text([roman(meaning.as_str())]);
        }
    }
    roff.to_writer(out)?;
    man.render_version_section(out)
}

/// `after_help` as its paragraphs of notes and the (code, meaning) rows of its `Exit codes:`
/// paragraph.
fn split_after_help(text: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut notes = Vec::new();
    let mut codes = Vec::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        match paragraph.strip_prefix(exit_code::HELP_HEADING) {
            Some(rows) => codes.extend(rows.lines().filter_map(|row| {
                let (code, meaning) = row.trim().split_once(' ')?;
                Some((code.to_owned(), meaning.trim().to_owned()))
            })),
            None => notes.push(paragraph.split_whitespace().collect::<Vec<_>>().join(" ")),
        }
    }
    (notes, codes)
}

/// `cmd` with the hidden flags `--completions SHELL` and `--man DIR`, for a program without
/// subcommands: either one alone is enough, the program's required arguments aside.
pub fn with_doc_flags(cmd: Command) -> Command {
    cmd.arg(
        Arg::new("completions")
            .long("completions")
            .value_name("SHELL")
            .value_parser(clap::value_parser!(Shell))
            .action(ArgAction::Set)
            .exclusive(true)
            .hide(true)
            .help("Print the completion script for SHELL (bash, zsh, fish, elvish, powershell)"),
    )
    .arg(
        Arg::new("man")
            .long("man")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .action(ArgAction::Set)
            .exclusive(true)
            .hide(true)
            .help("Write the man page into DIR"),
    )
}

/// When `matches` (of [`with_doc_flags`]`(cmd)`) hold `--completions` or `--man`, does it
/// and returns Some(outcome); None for a command line that asks for neither.
pub fn answer_doc_flags(cmd: Command, matches: &ArgMatches) -> Option<anyhow::Result<()>> {
    if let Some(shell) = matches.get_one::<Shell>("completions") {
        completions(cmd, *shell, &mut std::io::stdout().lock());
        return Some(Ok(()));
    }
    let dir = matches.get_one::<PathBuf>("man")?;
    Some(man_pages(cmd, dir).map(|pages| say_written(&pages)))
}

/// Lists the pages written, one a line, on standard output.
pub fn say_written(pages: &[PathBuf]) {
    for page in pages {
        println!("{}", page.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_help_splits_into_notes_and_exit_code_rows() {
        let text = format!(
            "Host file: one host\na line.\n\n{}",
            exit_code::help(&[exit_code::OK, exit_code::CONFIG])
        );
        let (notes, codes) = split_after_help(&text);
        assert_eq!(notes, ["Host file: one host a line."]);
        assert_eq!(
            codes,
            [
                ("0".to_owned(), exit_code::MEANINGS[0].1.to_owned()),
                ("2".to_owned(), exit_code::MEANINGS[2].1.to_owned()),
            ]
        );
    }
}
