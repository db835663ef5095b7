//! rsync's filter options (`--exclude`, `--include`, `--filter`, `--exclude-from`,
//! `--include-from`), kept in the order given across options, as rsync keeps them: the
//! first rule that matches decides. The `-from` files are read here (the core parses).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use zkrsync_core::filter::FilterList;

/// One filter option, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterOpt {
    /// `--exclude PATTERN`.
    Exclude(OsString),
    /// `--include PATTERN`.
    Include(OsString),
    /// `--filter RULE`.
    Filter(OsString),
    /// `--exclude-from FILE`.
    ExcludeFrom(PathBuf),
    /// `--include-from FILE`.
    IncludeFrom(PathBuf),
}

/// The options: their ids (also their long names), value names and help.
const OPTIONS: [(&str, &str, &str); 5] = [
    ("exclude", "PATTERN", "Leave out what matches PATTERN, as rsync's --exclude does (repeatable; with the other filter options, the first rule that matches decides)"),
    ("include", "PATTERN", "Do not leave out what matches PATTERN, as rsync's --include does (repeatable)"),
    ("filter", "RULE", "A filter rule, as rsync's --filter: '- PAT', '+ PAT', 'H PAT', 'S PAT', 'P PAT', 'R PAT', '!' (or exclude, include, hide, show, protect, risk, clear); merge rules are not supported (repeatable)"),
    ("exclude-from", "FILE", "Exclude patterns read from FILE, one a line, as rsync's --exclude-from (blank lines and lines starting with ; or # are skipped)"),
    ("include-from", "FILE", "Include patterns read from FILE, one a line, as rsync's --include-from"),
];

/// The filter options in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterArgs {
    /// The options.
    pub opts: Vec<FilterOpt>,
}

impl Args for FilterArgs {
    fn augment_args(cmd: Command) -> Command {
        OPTIONS.iter().fold(cmd, |cmd, (id, value, help)| {
            cmd.arg(
                Arg::new(*id)
                    .long(*id)
                    .value_name(*value)
                    .help(*help)
                    .action(ArgAction::Append)
                    .allow_hyphen_values(true)
                    .value_parser(clap::value_parser!(OsString)),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for FilterArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut found: Vec<(usize, FilterOpt)> = Vec::new();
        for (id, ..) in OPTIONS {
            let (Some(values), Some(indices)) = (matches.get_raw(id), matches.indices_of(id))
            else {
                continue;
            };
            for (value, index) in values.zip(indices) {
                let value = value.to_os_string();
                let opt = match id {
                    "exclude" => FilterOpt::Exclude(value),
                    "include" => FilterOpt::Include(value),
                    "filter" => FilterOpt::Filter(value),
                    "exclude-from" => FilterOpt::ExcludeFrom(value.into()),
                    _ => FilterOpt::IncludeFrom(value.into()),
                };
                found.push((index, opt));
            }
        }
        found.sort_by_key(|(index, _)| *index);
        Ok(FilterArgs {
            opts: found.into_iter().map(|(_, opt)| opt).collect(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

fn shown(value: &OsStr) -> String {
    value.to_string_lossy().into_owned()
}

/// Reads a `-from` file (`option` names it in errors).
fn read_patterns(option: &str, file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        anyhow::bail!("{option} -: standard input is not supported (zkrsync-launch talks to its agents there): give a file");
    }
    std::fs::read(file).map_err(|e| {
        anyhow!(
            "{option} {}: cannot read it ({e}): give a readable file of patterns",
            file.display()
        )
    })
}

impl FilterArgs {
    /// The rules, the `-from` files read. Every error is one line naming the option.
    pub fn filters(&self) -> anyhow::Result<FilterList> {
        let mut list = FilterList::new();
        for opt in &self.opts {
            match opt {
                FilterOpt::Exclude(p) | FilterOpt::Include(p) => {
                    let include = matches!(opt, FilterOpt::Include(_));
                    let option = if include { "--include" } else { "--exclude" };
                    list.push_pattern(p.as_bytes(), include)
                        .with_context(|| format!("{option} {:?}", shown(p)))?;
                }
                FilterOpt::Filter(rule) => list
                    .push_filter(rule.as_bytes())
                    .with_context(|| format!("--filter {:?}", shown(rule)))?,
                FilterOpt::ExcludeFrom(file) | FilterOpt::IncludeFrom(file) => {
                    let include = matches!(opt, FilterOpt::IncludeFrom(_));
                    let option = if include {
                        "--include-from"
                    } else {
                        "--exclude-from"
                    };
                    let contents = read_patterns(option, file)?;
                    list.push_pattern_lines(&contents, include)
                        .map_err(|(line, e)| {
                            anyhow!("{option} {} line {line}: {e}", file.display())
                        })?;
                }
            }
        }
        Ok(list)
    }
}

/// `words` (a source's options) with every `--exclude-from FILE` and `--include-from FILE`
/// replaced by the rules read from FILE here, as `--filter` options in the same place: a
/// launcher's file need not exist on the source hosts.
pub fn inline_pattern_files(words: &[OsString]) -> anyhow::Result<Vec<OsString>> {
    let mut out = Vec::with_capacity(words.len());
    let mut at = words.iter();
    while let Some(word) = at.next() {
        let bytes = word.as_bytes();
        let found = [("--exclude-from", false), ("--include-from", true)]
            .into_iter()
            .find_map(|(option, include)| {
                let file = match bytes.strip_prefix(option.as_bytes())? {
                    b"" => at.next().cloned().map(PathBuf::from),
                    [b'=', rest @ ..] => Some(PathBuf::from(OsStr::from_bytes(rest))),
                    _ => return None,
                };
                Some((option, include, file))
            });
        let Some((option, include, file)) = found else {
            out.push(word.clone());
            continue;
        };
        let file = file.ok_or_else(|| anyhow!("{option} needs a FILE after it"))?;
        let contents = read_patterns(option, &file)?;
        for (line_no, line) in FilterList::pattern_lines(&contents) {
            if line == b"!" {
                // Clears every rule before it, those of earlier options too, as here.
                out.push("--filter=!".into());
                continue;
            }
            let mut rule = FilterList::new();
            rule.push_pattern(line, include)
                .map_err(|e| anyhow!("{option} {} line {line_no}: {e}", file.display()))?;
            out.extend(rule.texts().iter().map(|text| filter_word(text)));
        }
    }
    Ok(out)
}

fn filter_word(text: &[u8]) -> OsString {
    let mut word = b"--filter=".to_vec();
    word.extend_from_slice(text);
    OsString::from_vec(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> FilterArgs {
        let cmd = FilterArgs::augment_args(Command::new("t"));
        let matches = cmd.try_get_matches_from(std::iter::once("t").chain(words.iter().copied()));
        FilterArgs::from_arg_matches(&matches.unwrap()).unwrap()
    }

    #[test]
    fn options_keep_their_order_across_kinds() {
        let args = parse(&[
            "--include",
            "keep.o",
            "--exclude=*.o",
            "--filter",
            "- /tmp/",
            "--exclude",
            "- x",
        ]);
        assert_eq!(
            args.filters().unwrap().texts(),
            [&b"+ keep.o"[..], b"- *.o", b"- /tmp/", b"- x"]
        );
    }

    #[test]
    fn pattern_files_are_inlined_where_they_were_given() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p");
        std::fs::write(&file, "# c\n*.o\n!\n+ keep\n").unwrap();
        let words: Vec<OsString> = [
            "--depth".into(),
            "2".into(),
            "--include-from".into(),
            file.clone().into_os_string(),
            format!("--exclude-from={}", file.display()).into(),
        ]
        .to_vec();
        let got = inline_pattern_files(&words).unwrap();
        let want: Vec<OsString> = [
            "--depth",
            "2",
            "--filter=+ *.o",
            "--filter=!",
            "--filter=+ keep",
            "--filter=- *.o",
            "--filter=!",
            "--filter=+ keep",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(got, want);
        let err = inline_pattern_files(&["--exclude-from".into()]).unwrap_err();
        assert!(err.to_string().contains("needs a FILE"), "{err}");
    }
}
