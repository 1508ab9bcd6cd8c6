//! Checks a gateway configuration file the way the gateway reads it at start-up:
//! `gatehouse-gateway-check FILE`. Exit status 0 when it is valid (a summary of the
//! routes goes to stdout), 2 with `FILE:LINE: message` on stderr when it is not
//! (`FILE: message` when the problem is a missing key, which the message names).
//! `scripts/gateway` runs it before starting the worker.

// A command-line tool: printing is its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use gatehouse_core::gateway::GatewayConfig;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: gatehouse-gateway-check FILE");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{path}: {err}");
            return ExitCode::from(2);
        }
    };
    match GatewayConfig::from_toml(&text) {
        Ok(config) => {
            let audience = config.policy.audiences().first().map_or("", String::as_str);
            println!(
                "{path}: ok: issuer {}, audience {audience}, origin {}",
                config.issuer, config.origin
            );
            for route in config.routes.routes() {
                let methods = if route.methods.is_empty() {
                    "*".to_owned()
                } else {
                    route.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",")
                };
                let mut what = if route.public { "public" } else { "token" }.to_owned();
                if route.case_insensitive {
                    what.push_str(", case-insensitive");
                }
                println!("  {methods} {} ({what})", route.prefix);
            }
            ExitCode::SUCCESS
        }
        // Line 0: about the whole document (a missing key, named in the message).
        Err(err) if err.line == 0 => {
            eprintln!("{path}: {}", err.message);
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("{path}:{}: {}", err.line, err.message);
            ExitCode::from(2)
        }
    }
}
