//! Where passwords come from: `WOCHAT_PASSWORD`, else `--password-stdin`, else a terminal prompt.

use std::io::{BufRead, IsTerminal};

use anyhow::{Result, bail};
use zeroize::Zeroizing;

/// Where a backup's passphrase comes from first.
pub const BACKUP_PASSWORD_ENV: &str = "WOCHAT_BACKUP_PASSWORD";

/// Supplies passwords to commands, never echoing or logging them.
pub struct PasswordSource {
    from_stdin: bool,
}

impl PasswordSource {
    /// `from_stdin`: read lines from standard input instead of prompting.
    pub fn new(from_stdin: bool) -> Self {
        Self { from_stdin }
    }

    /// The current password.
    pub fn password(&mut self, prompt: &str) -> Result<Zeroizing<String>> {
        if let Ok(p) = std::env::var("WOCHAT_PASSWORD") {
            return Ok(Zeroizing::new(p));
        }
        self.read(prompt)
    }

    /// A password being chosen (new account or new password): `env_var` first, else stdin,
    /// else prompted twice on a terminal. An empty password is refused.
    pub fn new_password(&mut self, env_var: &str, prompt: &str) -> Result<Zeroizing<String>> {
        let p = match std::env::var(env_var) {
            Ok(p) => Zeroizing::new(p),
            Err(_) if !self.from_stdin && std::io::stdin().is_terminal() => {
                let first = self.read(prompt)?;
                let again = self.read("Repeat the password: ")?;
                if *first != *again {
                    bail!("the two passwords differ");
                }
                first
            }
            Err(_) => self.read(prompt)?,
        };
        if p.is_empty() {
            bail!("the password is empty");
        }
        Ok(p)
    }

    /// The passphrase of a history backup: `WOCHAT_BACKUP_PASSWORD`, else stdin, else a
    /// prompt (twice for a new backup).
    pub fn backup_passphrase(&mut self, new: bool) -> Result<Zeroizing<String>> {
        if new {
            return self.new_password(BACKUP_PASSWORD_ENV, "Passphrase for the backup: ");
        }
        if let Ok(p) = std::env::var(BACKUP_PASSWORD_ENV) {
            return Ok(Zeroizing::new(p));
        }
        self.read("Passphrase of the backup: ")
    }

    fn read(&mut self, prompt: &str) -> Result<Zeroizing<String>> {
        if self.from_stdin {
            let mut line = Zeroizing::new(String::new());
            let n = std::io::stdin().lock().read_line(&mut line)?;
            if n == 0 {
                bail!("--password-stdin: standard input ended before a password was read");
            }
            let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
            return Ok(Zeroizing::new(trimmed));
        }
        if !std::io::stdin().is_terminal() {
            bail!("a password is needed: set WOCHAT_PASSWORD, pass --password-stdin, or run in a terminal");
        }
        Ok(Zeroizing::new(rpassword::prompt_password(prompt)?))
    }
}
