//! The launcher's SSH (ssh2, blocking, on threads of their own): opening an authenticated
//! connection ([`link`]), checking host keys against known_hosts ([`host_keys`]), and
//! short commands over a connection, every word quoted for the remote shell
//! ([`remote_command`]).

pub mod host_keys;
pub mod link;
pub mod remote_command;
