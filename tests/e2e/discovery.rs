//! The real binary in a pty discovers two Z-API accounts from the
//! simulator with no `[[instances]]` at all: every instance of both shows,
//! with its account; an instance added to an account appears at `s`,
//! marked `new`, and one deleted stays, `removed from account`; `r` on a
//! discovered instance carries its own account's Client-Token. No token
//! reaches the screen or a file.

use crate::common;

use std::time::Duration;

use common::{Dash, timeout};
use zapi_dash::sim::{self, Sim, SimAccount, SimOptions};

const CT_A: &str = "CT-A-e2e-0123456789";
const CT_B: &str = "CT-B-e2e-0123456789";
const PT_A: &str = "PT-A-e2e-0123456789";
const PT_B: &str = "PT-B-e2e-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_are_discovered_with_no_instances_in_the_config() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Sim::start(SimOptions {
        latency: Duration::ZERO,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let mut all = sim::demo_instances(6, 3);
    for (i, inst) in all.iter_mut().enumerate() {
        inst.name = format!("Shop {i}");
    }
    let joins = all.pop().unwrap();
    let account = |ct: &str, pt: &str| SimAccount {
        client_token: ct.into(),
        partner_token: Some(pt.into()),
    };
    sim.add_account(account(CT_A, PT_A), all[..3].to_vec());
    sim.add_account(account(CT_B, PT_B), all[3..].to_vec());

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\npublic_url = \"https://dash.example.com\"\napi_base = \"{}\"\n\
             [[accounts]]\nname = \"Agency A\"\nclient_token = \"{CT_A}\"\npartner_token = \"{PT_A}\"\ndiscover_every = 0\n\
             [[accounts]]\nname = \"Agency B\"\nclient_token = \"{CT_B}\"\npartner_token_env = \"E2E_PT_B\"\ndiscover_every = 0\n",
            sim.base_url()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut dash = Dash::spawn_env(
        &["--config", config.to_str().unwrap()],
        dir.path(),
        180,
        24,
        &[("E2E_PT_B", PT_B)],
    );

    let text = dash.wait_for("both accounts listed", |s| {
        (0..5).all(|i| s.contains(&format!("Shop {i}")))
            && s.contains("Agency A")
            && s.contains("Agency B")
            && s.matches("● connected").count() == 5
    });
    assert!(text.contains("Account"), "{text}");
    for i in 0..3 {
        let row = text
            .lines()
            .find(|l| l.contains(&format!("Shop {i}")))
            .unwrap();
        assert!(row.contains("Agency A"), "{row}");
    }
    // the listing told every state: no per-instance call at start
    assert!(sim.calls().iter().all(|c| c.path == "/instances"));

    // one joins Agency B, one leaves Agency A; `s` lists again
    sim.add_instance(2, joins);
    sim.remove_instance(&all[0].id);
    dash.send(b"s");
    dash.wait_for("the new and the removed instance", |s| {
        s.lines().any(|l| l.contains("Shop 5") && l.contains("new"))
            && s.lines()
                .any(|l| l.contains("Shop 0") && l.contains("removed from account"))
    });

    // `r` on an instance of Agency B: its own account's Client-Token
    dash.send(b"/Shop 4\r");
    dash.wait_for("the filter", |s| s.contains("matching \"Shop 4\""));
    dash.send(b"r");
    let calls = sim
        .wait_for_calls(
            |c| c.iter().filter(|c| c.method == "PUT").count() >= 2,
            timeout(),
        )
        .await
        .expect("the simulator receives both PUTs");
    let puts: Vec<_> = calls.iter().filter(|c| c.method == "PUT").collect();
    assert!(puts.iter().all(|c| c.path.contains(&all[4].id)));
    assert!(puts.iter().all(|c| c.client_token.as_deref() == Some(CT_B)));
    let text = dash.wait_for("the registration result", |s| {
        s.contains("webhooks of Shop 4 registered")
    });

    dash.send(b"q");
    let status = dash.wait_exit();
    assert!(status.success());
    // no token on the screen, nor in any file written
    let tokens: Vec<String> = [CT_A, CT_B, PT_A, PT_B]
        .into_iter()
        .map(str::to_string)
        .chain(all.iter().map(|i| i.token.clone()))
        .collect();
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "a token on the screen");
    }
    for file in walk(&dir.path().join("state")) {
        let bytes = std::fs::read(&file).unwrap();
        let content = String::from_utf8_lossy(&bytes);
        for token in &tokens {
            assert!(
                !content.contains(token.as_str()),
                "a token in {}",
                file.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
