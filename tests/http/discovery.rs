//! Z-API's partner listing against the simulator, over real loopback HTTP:
//! the sim's pages, Bearer and Client-Token checks per account, and the
//! [`PartnerClient`] reading 1, 2 and many pages, retrying a page, and
//! failing as a whole when a page fails halfway.

use std::time::Duration;

use serde_json::Value;
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::sim::{self, Sim, SimAccount, SimOptions};
use zapi_dash::zapi::{ApiError, PartnerClient, ZapiClient};

const CT_A: &str = "CT-A-0123456789";
const CT_B: &str = "CT-B-0123456789";
const PT_A: &str = "PT-A-secret-0123";
const PT_B: &str = "PT-B-secret-0123";
/// Generous bound for what happens at once; never reached when it works.
const WAIT: Duration = Duration::from_secs(10);

/// A sim with two accounts: A with `a` instances, B with `b`.
pub async fn two_accounts(a: usize, b: usize) -> Sim {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let all = sim::demo_instances(a + b, 7);
    sim.add_account(
        SimAccount {
            client_token: CT_A.into(),
            partner_token: Some(PT_A.into()),
        },
        all[..a].to_vec(),
    );
    sim.add_account(
        SimAccount {
            client_token: CT_B.into(),
            partner_token: Some(PT_B.into()),
        },
        all[a..].to_vec(),
    );
    sim
}

async fn get(sim: &Sim, query: &str, bearer: Option<&str>, json: bool) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{}/instances?{query}", sim.base_url()));
    if let Some(b) = bearer {
        req = req.header("Authorization", format!("Bearer {b}"));
    }
    if json {
        req = req.header("Content-Type", "application/json");
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn partner(sim: &Sim, token: &str) -> PartnerClient {
    PartnerClient::new(&sim.base_url(), Secret::new(token))
        .unwrap()
        .with_retry_base(Duration::from_millis(1))
}

#[tokio::test]
async fn the_sim_lists_an_account_in_pages_behind_its_bearer_token() {
    let sim = two_accounts(5, 3).await;
    let (status, body) = get(&sim, "page=2&pageSize=2", Some(PT_A), true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 5);
    assert_eq!(body["totalPage"], 3);
    assert_eq!(body["page"], 2);
    assert_eq!(body["pageSize"], 2);
    let content = body["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    for field in [
        "id",
        "token",
        "name",
        "due",
        "paymentStatus",
        "disconnectedCallbackUrl",
        "connectedCallbackUrl",
        "receivedCallbackUrl",
        "phoneConnected",
        "whatsappConnected",
        "middleware",
    ] {
        assert!(
            content[0].get(field).is_some(),
            "{field} missing: {}",
            content[0]
        );
    }
    assert_eq!(content[0]["whatsappConnected"], true);
    // B's token lists B's instances only
    let (_, body) = get(&sim, "page=1&pageSize=10", Some(PT_B), true).await;
    assert_eq!(body["total"], 3);
    // no Bearer, a wrong one, another account's Client-Token as Bearer: 401
    for bearer in [None, Some("nope"), Some(CT_A)] {
        assert_eq!(get(&sim, "page=1&pageSize=2", bearer, true).await.0, 401);
    }
    assert_eq!(
        get(&sim, "page=1&pageSize=2", Some(PT_A), false).await.0,
        415
    );
    assert_eq!(get(&sim, "pageSize=2", Some(PT_A), true).await.0, 400);
    // a disconnected instance and its webhook URLs are listed as they are
    let id = &content[0]["id"].as_str().unwrap().to_owned();
    sim.set_connected(id, false, None);
    sim.set_webhook_urls(id, Some("https://x.example/hooks/disconnected"), None);
    let (_, body) = get(&sim, "page=2&pageSize=2", Some(PT_A), true).await;
    assert_eq!(body["content"][0]["whatsappConnected"], false);
    assert_eq!(
        body["content"][0]["disconnectedCallbackUrl"],
        "https://x.example/hooks/disconnected"
    );
}

#[tokio::test]
async fn every_account_has_its_own_client_token_and_the_sim_refuses_anothers() {
    let sim = two_accounts(1, 1).await;
    let listed_a = partner(&sim, PT_A).list_all(10, None).await.unwrap();
    let listed_b = partner(&sim, PT_B).list_all(10, None).await.unwrap();
    let (a, b) = (&listed_a[0], &listed_b[0]);
    let (ida, idb) = (InstanceId::new(&a.id), InstanceId::new(&b.id));
    let client_a = ZapiClient::new(&sim.base_url(), Secret::new(CT_A)).unwrap();
    let client_b = ZapiClient::new(&sim.base_url(), Secret::new(CT_B)).unwrap();
    assert!(client_a.status(&ida, &a.token).await.is_ok());
    assert!(client_b.status(&idb, &b.token).await.is_ok());
    // A's Client-Token on B's instance: refused
    let e = client_a.status(&idb, &b.token).await.unwrap_err();
    assert!(
        matches!(&e, ApiError::Http { status: 403, message } if message.contains("not allowed")),
        "{e:?}"
    );
    let e = client_b.restart(&ida, &a.token).await.unwrap_err();
    assert!(matches!(e, ApiError::Http { status: 403, .. }), "{e:?}");
}

#[tokio::test]
async fn the_partner_client_reads_one_two_and_many_pages() {
    let sim = two_accounts(25, 0).await;
    let client = partner(&sim, PT_A);
    for (size, pages) in [(100, 1), (13, 2), (2, 13)] {
        let before = sim.calls().len();
        let listed = client.list_all(size, None).await.unwrap();
        assert_eq!(listed.len(), 25, "pageSize {size}");
        let ids: std::collections::HashSet<_> = listed.iter().map(|l| l.id.clone()).collect();
        assert_eq!(ids.len(), 25, "no instance twice with pageSize {size}");
        let calls = &sim.calls()[before..];
        assert_eq!(calls.len(), pages, "pageSize {size}");
        for (n, call) in calls.iter().enumerate() {
            assert_eq!(call.method, "GET");
            assert_eq!(call.path, "/instances");
            assert_eq!(call.query, format!("page={}&pageSize={size}", n + 1));
            assert_eq!(
                call.authorization.as_deref(),
                Some(&*format!("Bearer {PT_A}"))
            );
            assert_eq!(call.content_type.as_deref(), Some("application/json"));
            assert_eq!(call.client_token, None);
        }
    }
    // the query goes along
    let listed = client.list_all(100, Some("sales")).await.unwrap();
    assert!(!listed.is_empty() && listed.len() < 25, "{}", listed.len());
    assert!(sim.calls().last().unwrap().query.ends_with("&query=sales"));
}

#[tokio::test]
async fn a_page_that_fails_is_retried_and_one_that_keeps_failing_fails_the_listing() {
    let sim = two_accounts(5, 0).await;
    let client = partner(&sim, PT_A);
    sim.fail_next("page=2&pageSize=2", 503, r#"{"error":"busy"}"#, 1);
    assert_eq!(client.list_all(2, None).await.unwrap().len(), 5);
    // halfway: page 2 refused for good, the whole listing fails and says which page
    sim.fail_next("page=2&pageSize=2", 400, r#"{"error":"bad page"}"#, 1);
    let e = client.list_all(2, None).await.unwrap_err();
    assert_eq!(e.to_string(), "HTTP 400: page 2 of 3: bad page");
    // a wrong token: 401, said so, the token never in the text
    let wrong = partner(&sim, "WRONG-PARTNER-TOKEN");
    let e = wrong.list_all(2, None).await.unwrap_err().to_string();
    assert_eq!(e, "HTTP 401: Unauthorized (check partner_token)");
    // an answer echoing the token: masked
    sim.fail_next(
        "/instances?page=1&pageSize=2",
        400,
        &format!("{{\"error\":\"token {PT_A} bad\"}}"),
        1,
    );
    let e = client.list_all(2, None).await.unwrap_err().to_string();
    assert!(!e.contains(PT_A), "{e}");
}

mod task {
    use std::sync::Arc;

    use tokio::sync::{Notify, mpsc};
    use zapi_dash::app::{Command, Msg};
    use zapi_dash::discovery::{AccountDiscovery, Accounts, Discovery, Found};
    use zapi_dash::fleet::ListedInstance;
    use zapi_dash::runner::{Backend, Runner, Services};

    use super::*;

    fn discovery(sim: &Sim, found: &Found, relist: &Arc<Notify>, every: Duration) -> Discovery {
        let account = |i: usize, name: &str, token: &str| AccountDiscovery {
            account: i,
            name: name.into(),
            client: partner(sim, token),
            every,
            query: None,
        };
        Discovery {
            accounts: vec![account(0, "Agency A", PT_A), account(1, "Agency B", PT_B)],
            found: found.clone(),
            relist: Arc::clone(relist),
            public_url: Some("https://dash.example.com".into()),
            secret: None,
            all_types: false,
            page_size: 2,
            retry_base: Duration::from_millis(1),
        }
    }

    async fn next(
        rx: &mut mpsc::UnboundedReceiver<Msg>,
    ) -> (String, Result<Vec<ListedInstance>, String>) {
        match tokio::time::timeout(super::WAIT, rx.recv()).await {
            Ok(Some(Msg::Discovered { account, result })) => (account, result),
            other => panic!("no listing: {other:?}"),
        }
    }

    #[tokio::test]
    async fn both_accounts_are_listed_and_every_call_takes_its_accounts_client_token() {
        let sim = two_accounts(3, 2).await;
        let (found, relist) = (Found::default(), Arc::new(Notify::new()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _tasks = discovery(&sim, &found, &relist, Duration::ZERO).spawn(tx);
        let mut seen = std::collections::BTreeMap::new();
        for _ in 0..2 {
            let (account, result) = next(&mut rx).await;
            seen.insert(account, result.unwrap());
        }
        assert_eq!(seen["Agency A"].len(), 3);
        assert_eq!(seen["Agency B"].len(), 2);
        let b0 = &seen["Agency B"][0];
        assert_eq!(b0.connected, Some(true));
        // the listing's webhook URLs, judged: never registered here
        assert!(
            b0.hooks
                .as_ref()
                .is_some_and(|h| !h.here && h.disconnected.is_none())
        );
        assert!(
            !format!("{seen:?}").contains("token"),
            "no token leaves the task"
        );
        assert_eq!(found.len(), 5);

        // each instance's calls carry its own account's Client-Token
        let client = |ct: &str| Some(ZapiClient::new(&sim.base_url(), Secret::new(ct)).unwrap());
        let services = Services {
            client: None,
            tokens: Default::default(),
            public_url: Some("https://dash.example.com".into()),
            secret: None,
            concurrency: 4,
            all_types: false,
            accounts: Accounts {
                clients: vec![
                    ("Agency A".into(), client(CT_A)),
                    ("Agency B".into(), client(CT_B)),
                ],
                of: Default::default(),
                found: found.clone(),
                relist: Arc::clone(&relist),
            },
        };
        let (results, mut answers) = mpsc::unbounded_channel();
        let mut runner = Runner::new(Backend::Zapi(Box::new(services)), results);
        let ids: Vec<InstanceId> = seen.values().flatten().map(|l| l.id.clone()).collect();
        for id in &ids {
            runner.run(Command::FetchStatus(id.clone()));
            runner.run(Command::Register(id.clone()));
        }
        for _ in 0..ids.len() * 2 {
            match answers.recv().await.unwrap() {
                Msg::StatusResult { result, .. } => assert!(result.is_ok(), "{result:?}"),
                Msg::RegisterResult { result, .. } => assert!(result.is_ok(), "{result:?}"),
                other => panic!("{other:?}"),
            }
        }
        let calls = sim.calls();
        let rest: Vec<_> = calls.iter().filter(|c| c.path != "/instances").collect();
        assert_eq!(rest.len(), ids.len() * 3);
        for call in rest {
            let of_a = seen["Agency A"]
                .iter()
                .any(|l| call.path.contains(l.id.as_str()));
            let expected = if of_a { CT_A } else { CT_B };
            assert_eq!(
                call.client_token.as_deref(),
                Some(expected),
                "{}",
                call.path
            );
        }
    }

    #[tokio::test]
    async fn a_failing_listing_is_said_and_retried_and_s_lists_at_once() {
        let sim = two_accounts(1, 1).await;
        // every try of A's first page fails: the listing fails, then is retried
        sim.fail_next(
            "/instances?page=1&pageSize=2",
            503,
            r#"{"error":"down"}"#,
            3,
        );
        let (found, relist) = (Found::default(), Arc::new(Notify::new()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut d = discovery(&sim, &found, &relist, Duration::ZERO);
        d.accounts.truncate(1);
        let _tasks = d.spawn(tx);
        let (account, result) = next(&mut rx).await;
        assert_eq!(account, "Agency A");
        assert_eq!(result.unwrap_err(), "HTTP 503: down");
        let (_, result) = next(&mut rx).await;
        assert_eq!(result.unwrap().len(), 1, "retried after the failure");
        // discover_every = 0: nothing more until `s`
        sim.add_instance(1, sim::demo_instances(9, 99).remove(8));
        let listings = |sim: &Sim| {
            sim.calls()
                .iter()
                .filter(|c| c.path == "/instances")
                .count()
        };
        assert_eq!(
            listings(&sim),
            4,
            "three failed tries, one listing; nothing since"
        );
        Accounts {
            relist: Arc::clone(&relist),
            ..Accounts::default()
        }
        .relist();
        let (_, result) = next(&mut rx).await;
        assert_eq!(result.unwrap().len(), 2, "the instance added is found");
    }
}

/// `serve` as a process discovers two accounts with no `[[instances]]`:
/// `/api/instances` rows carry their account, `/metrics` labels them, no
/// per-instance `/status` is asked, and no token reaches the log.
#[tokio::test]
async fn serve_discovers_two_accounts_and_labels_rows_and_metrics() {
    use std::io::BufReader;
    use std::process::Stdio;

    const API_TOKEN: &str = "discovery-api-token-0123456789";
    let sim = two_accounts(3, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\napi_base = \"{}\"\napi_token = \"{API_TOKEN}\"\n\
         [[accounts]]\nname = \"Agency A\"\nclient_token = \"{CT_A}\"\npartner_token = \"{PT_A}\"\n\
         [[accounts]]\nname = \"Agency B\"\nclient_token_env = \"TEST_B_CT\"\npartner_token_env = \"TEST_B_PT\"\n",
        sim.base_url()
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let state = dir.path().join("state");
    let mut cmd = crate::common::serve_command(&path, &state);
    cmd.env("TEST_B_CT", CT_B)
        .env("TEST_B_PT", PT_B)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (_, addr) =
        crate::common::serve_listening(&mut BufReader::new(child.stderr.take().unwrap()));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| {
        http.get(format!("http://{addr}{path}"))
            .bearer_auth(API_TOKEN)
            .send()
    };
    let deadline = std::time::Instant::now() + crate::common::timeout();
    let rows = loop {
        let snapshot: Value = get("/api/instances").await.unwrap().json().await.unwrap();
        let rows = snapshot["instances"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if rows.len() == 5 {
            break rows;
        }
        assert!(std::time::Instant::now() < deadline, "{snapshot}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let of = |account: &str| rows.iter().filter(|r| r["account"] == account).count();
    assert_eq!((of("Agency A"), of("Agency B")), (3, 2));
    assert!(
        rows.iter()
            .all(|r| r["state"] == "connected" && r["configured"] == true)
    );
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"zapi_account_instances{account="Agency A"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"zapi_discovery_failures_total{account="Agency B"} 0"#),
        "{metrics}"
    );
    let first = rows[0]["id"].as_str().unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("zapi_instance_connected{")
                && l.contains(first)
                && l.contains("account=\"Agency")),
        "{metrics}"
    );
    // the listing told the state: no per-instance call at all
    let calls = sim.calls();
    assert!(calls.iter().all(|c| c.path == "/instances"), "{calls:?}");
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(state.join("zapi-dash.log")).unwrap_or_default();
    let listed = partner(&sim, PT_A).list_all(10, None).await.unwrap();
    for secret in [CT_A, CT_B, PT_A, PT_B, listed[0].token.expose()] {
        assert!(!log.contains(secret), "a token in the log");
        assert!(!metrics.contains(secret), "a token in the metrics");
        assert!(
            !rows.iter().any(|r| r.to_string().contains(secret)),
            "a token in the API"
        );
    }
}
