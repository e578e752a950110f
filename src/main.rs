use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = concert_bench::cli::Cli::from_env();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&err.into()),
    };
    match runtime.block_on(concert_bench::run(cli)) {
        Ok(text) => {
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

/// One line on stderr: the error and its causes, joined (after the report, if the run
/// produced one before failing).
fn fail(err: &anyhow::Error) -> ExitCode {
    if let Some(output) = concert_bench::failed_output(err) {
        let _ = std::io::stdout().write_all(output.as_bytes());
    }
    let line = format!("{err:#}").replace('\n', " ");
    eprintln!("error: {line}");
    ExitCode::from(concert_bench::exit_code(err))
}
