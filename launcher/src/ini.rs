//! The INI files of vsc-zk (`zkrs.conf`, zkinitree's config), read as Python's
//! ConfigParser reads them: `[section]` headers, `key = value` or `key: value`, keys in lower
//! case, `#` and `;` comment lines, blank lines; every entry keeps its line for messages.

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, in lower case.
    pub key: String,
    /// The value, trimmed.
    pub value: String,
    /// Its line in the file (from 1).
    pub line: usize,
}

/// One `[section]` and its entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, as written.
    pub name: String,
    /// The header's line.
    pub line: usize,
    /// Its entries.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// Why an INI file cannot be read: the file, the line, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} line {line}: {problem}")]
pub struct IniError {
    /// The file, as named to [`parse`].
    pub file: String,
    /// The line (from 1).
    pub line: usize,
    /// What is wrong with it.
    pub problem: IniProblem,
}

/// What is wrong with one line of an INI file (each holds the line, trimmed, or the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniProblem {
    /// `[name` without its `]`.
    #[error("{0:?} opens a section without closing it: write [name]")]
    UnclosedSection(String),
    /// A section's header comes twice (its name).
    #[error("section [{0}] is given twice: merge the two")]
    SectionTwice(String),
    /// Neither a header, a comment nor `key = value`.
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    /// `= value` without a key.
    #[error("{0:?} has no key before '='")]
    NoKey(String),
    /// An entry above the first header (its key).
    #[error("{0} is outside any section: put a [section] header above it")]
    OutsideSection(String),
}

/// Parses `text`; `file` names it in errors, which name the line.
pub fn parse(text: &str, file: &str) -> Result<Vec<Section>, IniError> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |problem: IniProblem| IniError {
            file: file.to_owned(),
            line,
            problem,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err(IniProblem::UnclosedSection(trimmed.to_owned())))?;
            if sections.iter().any(|s| s.name == name) {
                return Err(err(IniProblem::SectionTwice(name.to_owned())));
            }
            sections.push(Section {
                name: name.to_owned(),
                line,
                entries: Vec::new(),
            });
            continue;
        }
        let at = trimmed
            .find(['=', ':'])
            .ok_or_else(|| err(IniProblem::NotKeyValue(trimmed.to_owned())))?;
        let (key, value) = (&trimmed[..at], &trimmed[at + 1..]);
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(err(IniProblem::NoKey(trimmed.to_owned())));
        }
        let section = sections
            .last_mut()
            .ok_or_else(|| err(IniProblem::OutsideSection(key.clone())))?;
        section.entries.push(Entry {
            key,
            value: value.trim().to_owned(),
            line,
        });
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_and_lines() {
        let text =
            "# c\n[MAIN]\nServers = a:1,b:2\n; c\ndepth: 3\n\n[/admin/rsync]\nrwcd=rsync\nr =\n";
        let s = parse(text, "f").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "MAIN");
        assert_eq!(s[0].get("servers").unwrap().value, "a:1,b:2");
        assert_eq!(s[0].get("depth").unwrap().line, 5);
        assert_eq!(s[1].name, "/admin/rsync");
        assert_eq!(s[1].entries[1].value, "");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            ("[a\n", "f line 1: \"[a\" opens a section"),
            ("x=1\n", "f line 1: x is outside any section"),
            ("[a]\nnothing\n", "f line 2: \"nothing\" is not key=value"),
            ("[a]\n[a]\n", "f line 2: section [a] is given twice"),
            ("[a]\n=1\n", "f line 2: \"=1\" has no key"),
        ] {
            let e = parse(text, "f").unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
