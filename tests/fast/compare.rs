//! `tch-vae compare`: runs side by side (a table, the curves, Markdown and CSV), labelled
//! by what tells them apart; runs whose numbers do not compare are refused.
use crate::common::*;

#[test]
fn compare_tables_and_overlays_runs_and_refuses_what_does_not_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_data(tmp.path());
    let run = |name: &str, extra: &[&str]| {
        let dir = tmp.path().join(name);
        let base = ["--epochs", "2", "--hidden", "16"];
        train_ok(&train_args_on(&data, &dir, &[&base[..], extra].concat()));
        dir
    };
    let a = run("a", &["--latent", "2"]);
    let b = run("b", &["--latent", "3"]);
    let o = tch_vae(&[
        "eval",
        "--run",
        a.to_str().unwrap(),
        "--iw-samples",
        "5",
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let [svg, md, csv] = ["c.svg", "c.md", "c.csv"].map(|f| tmp.path().join(f));
    let o = tch_vae(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--output",
        svg.to_str().unwrap(),
        "--output",
        md.to_str().unwrap(),
        "--output",
        csv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o);
    assert!(
        printed.contains("a (latent=2)") && printed.contains("b (latent=3)"),
        "{printed}"
    );
    // The table's numbers are the runs' last metrics.csv rows and a's eval.json.
    let last = |dir: &std::path::Path| {
        tch_vae::run::metrics::read(&dir.join("metrics.csv"))
            .unwrap()
            .pop()
            .unwrap()
    };
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for (row, dir) in rows.iter().zip([&a, &b]) {
        let loss: f64 = row[2].parse().unwrap();
        assert!((loss - last(dir).test_loss).abs() < 0.006, "{row:?}");
    }
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("eval.json")).unwrap()).unwrap();
    assert!(rows[0][5].starts_with(&format!("{:.2}", eval["nll"].as_f64().unwrap())));
    assert_eq!(&rows[1][5], "-", "b has no eval.json");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.contains("a (latent=2)") && svg.contains("b (latent=3)") && svg.ends_with("</svg>\n")
    );
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .starts_with("| run | epochs |"));

    let gaussian = run("g", &["--latent", "2", "--likelihood", "gaussian"]);
    let [a_s, g_s] = [&a, &gaussian].map(|p| p.to_str().unwrap().to_string());
    fails_with(
        &["compare", &a_s, &g_s],
        &["not comparable", "likelihood", "bernoulli", "gaussian"],
    );
    fails_with(
        &["compare", &a_s, tmp.path().to_str().unwrap()],
        &["config.json"],
    );
    let bad = tmp.path().join("c.txt");
    fails_with(
        &["compare", &a_s, "--output", bad.to_str().unwrap()],
        &[".svg", ".md or .csv"],
    );
    // A FIFO in place of metrics.csv is refused, not read (it would block).
    let fifo_run = tmp.path().join("fifo");
    std::fs::create_dir(&fifo_run).unwrap();
    std::fs::copy(a.join("config.json"), fifo_run.join("config.json")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(fifo_run.join("metrics.csv"))
        .status()
        .unwrap();
    assert!(made.success());
    fails_with(
        &["compare", &a_s, fifo_run.to_str().unwrap()],
        &["metrics.csv", "not a regular file"],
    );
    let own = a.join("loss.svg");
    let before = std::fs::read(&own).unwrap();
    fails_with(
        &["compare", &a_s, "--output", own.to_str().unwrap()],
        &["the run's own loss.svg"],
    );
    assert_eq!(std::fs::read(&own).unwrap(), before);
}
