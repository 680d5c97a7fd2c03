//! `vigil`: the command-line tool of the vigil library.
//!
//! Subcommands: `score` (a Parquet file through a saved model into a scored Parquet file),
//! `mine` (log templates of a log file), `info` (version, backend and GPU adapter),
//! `tail` (follow a growing log file and print its alerts as JSON lines),
//! `intel` (threat-intel indicators matched over a log table, sightings out),
//! `hunt` (Sigma rules over Windows event logs into a timeline of hits).
//! Exit codes: 0 success, 1 an error (missing file, bad input, bad model), 2 bad usage,
//! 3 alerts found when `vigil score --fail-on-alert` asked for that.

mod hunt;
mod info;
mod intel;
mod mine;
mod score;
mod tail;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code of a run that failed (I/O, input, model, parameters).
const EXIT_ERROR: u8 = 1;
/// Exit code of bad usage (unknown option, missing argument): clap's convention.
const EXIT_USAGE: u8 = 2;
/// Exit code of `vigil score --fail-on-alert` when some row alerted.
const EXIT_ALERTS: u8 = 3;

const AFTER_HELP: &str = "\
Examples:
  vigil info
  vigil mine /var/log/auth.log --format syslog
  vigil mine HDFS_2k.log --format loghub:HDFS -o templates.parquet --parsed lines.parquet
  vigil score --model model.json events.parquet -o scored.parquet
  vigil tail /var/log/auth.log --format syslog --model model.json
  vigil intel conn.parquet -i iocs.csv -i misp_feed/ -c id.resp_h=ip --sightings seen.json
  vigil hunt logs/ --rules sigma/rules/windows -o timeline.csv

Exit codes:
  0  success
  1  error: a missing or unreadable file, input that does not fit, a bad model file
  2  bad usage: unknown option, missing or invalid argument
  3  `vigil score --fail-on-alert` found alerts, `vigil hunt --fail-on-hit` found hits

Environment:
  VIGIL_BACKEND=auto|gpu|cpu   where kernels run (default auto: a hardware GPU for large inputs)";

/// GPU-accelerated security log analytics: score tables with a saved model, mine log
/// templates, hunt with Sigma rules, and show which backend runs.
#[derive(Parser, Debug)]
#[command(name = "vigil", version, after_long_help = AFTER_HELP, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Score(score::ScoreArgs),
    Mine(mine::MineArgs),
    Info(info::InfoArgs),
    Tail(tail::TailArgs),
    Intel(intel::IntelArgs),
    Hunt(hunt::HuntArgs),
}

/// An error to report on one line: the message, and the exit code.
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// A run-time error (exit code 1).
    pub(crate) fn error(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: EXIT_ERROR,
        }
    }
}

impl From<vigil::Error> for Failure {
    fn from(e: vigil::Error) -> Self {
        Failure::error(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::error(e.to_string())
    }
}

/// What a subcommand ends with when it did not fail: success, or findings (exit 3).
pub(crate) enum Outcome {
    Ok,
    Findings,
}

/// One line on stderr: the message with any newline folded, so scripts can read it.
fn report(message: &str) {
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let _ = writeln!(std::io::stderr(), "vigil: error: {one_line}");
}

/// Writes to stdout; a closed pipe (`vigil mine ... | head`) ends quietly instead of failing.
pub(crate) fn out(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::error(format!("writing to stdout: {e}"))),
    }
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        report(&format!(
            "internal error ({what}); please report it with the command that caused it"
        ));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(EXIT_USAGE)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // clap's first paragraph says what is wrong; the usage lines after it are left out.
            let rendered = e.render().to_string();
            let what: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let what = what.join(" ");
            let what = what.trim_start_matches("error: ");
            let sub = std::env::args()
                .nth(1)
                .filter(|a| {
                    ["score", "mine", "info", "tail", "intel", "hunt"].contains(&a.as_str())
                })
                .map(|a| format!(" {a}"))
                .unwrap_or_default();
            report(&format!("{what} (see `vigil{sub} --help`)"));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let run = std::panic::AssertUnwindSafe(|| match cli.command {
        Command::Score(a) => score::run(a),
        Command::Mine(a) => mine::run(a),
        Command::Info(a) => info::run(a),
        Command::Tail(a) => tail::run(a),
        Command::Intel(a) => intel::run(a),
        Command::Hunt(a) => hunt::run(a),
    });
    match std::panic::catch_unwind(run) {
        Ok(Ok(Outcome::Ok)) => ExitCode::SUCCESS,
        Ok(Ok(Outcome::Findings)) => ExitCode::from(EXIT_ALERTS),
        Ok(Err(f)) => {
            report(&f.message);
            ExitCode::from(f.code)
        }
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}

/// The backend named on the command line.
pub(crate) fn backend(name: &str) -> Result<vigil::Backend, Failure> {
    Ok(vigil::Backend::parse(name)?)
}

/// A progress bar on stderr, hidden when stderr is not a terminal or `quiet` is set.
pub(crate) fn progress_bar(total: u64, quiet: bool, unit: &str) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let template = if unit == "bytes" {
        "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
    } else if unit == "files" {
        "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} files ({per_sec}, {eta})"
    } else {
        "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, {eta})"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
