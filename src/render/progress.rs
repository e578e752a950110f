//! Progress bars on stderr. Hidden unless a person is watching: stderr is a terminal, no `-q`,
//! and the output is a table (a JSON or CSV consumer is a program).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::render::output::OutputFormat;

pub fn visible(quiet: bool, output: OutputFormat) -> bool {
    !quiet && output == OutputFormat::Table && std::io::stderr().is_terminal()
}

pub fn multi(visible: bool) -> MultiProgress {
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    MultiProgress::with_draw_target(target)
}

/// A bar counting rows, with rate and ETA.
pub fn rows_bar(multi: &MultiProgress, label: &str, len: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(len));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>13} [{bar:30}] {human_pos:>11}/{human_len:11}  {per_sec:0} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// A bar counting simulated users who are done, with the simulation's state as its message.
pub fn users_bar(multi: &MultiProgress, label: &str, users: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(users));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>13} [{bar:30}] {human_pos}/{human_len} done  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// A one-line status that updates in place (hidden like the bars).
pub fn spinner(visible: bool) -> ProgressBar {
    let bar = if visible {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A bar counting the stages of a run of several commands, the current one as its message.
pub fn stages_bar(multi: &MultiProgress, label: &str, len: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(len));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>13} [{bar:30}] {pos}/{len} stages  {elapsed}  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    bar
}

/// A bar counting runs of a benchmark.
pub fn runs_bar(multi: &MultiProgress, label: &str, len: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(len));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>13} [{bar:30}] {pos}/{len} runs  eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}
