//! The API against its own OpenAPI document, fuzzed by schemathesis (PyPI, installed
//! into target/test-venv by scripts/test): every check, no 5xx, every status, content
//! type and header documented, every valid request accepted.

mod common;

use std::process::Command;

use common::{fixture, succeeded, venv_tool, with_server};
use statvault_site::Limits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_openapi_contract_under_fuzzing() {
    let f = fixture();
    let site = f.site(Limits {
        requests_per_minute: 1_000_000,
        ..Limits::default()
    });
    let run = with_server(site, |addr| {
        Command::new(venv_tool("schemathesis"))
            .args(["run", &format!("http://{addr}/api/v1/openapi.json")])
            .args(["--checks", "all", "--max-examples", "40", "--seed", "2023"])
            .args(["--output-truncate", "false", "--no-color"])
            .output()
            .expect("running schemathesis")
    })
    .await;
    let report = succeeded(&run);
    assert!(report.contains("passed"), "{report}");
}
