//! The regression side of `recur classify`: data with numeric targets (a `.ts` with
//! `@targetlabel true`, a `target` column or field) trains a regressor; its report gives RMSE
//! and MAE on the test set beside the baseline of predicting the training mean, and `eval` and
//! `predict` read its checkpoint (task `"regress"`).

use recur::classify::data::Dataset;
use recur::classify::model::Classifier;
use recur::classify::regress::{predict_values, regression_report, RegressionReport};
use recur::classify::train::Trained;
use recur::io::write_atomically;
use recur::rundir::RunDir;
use recur::{Error, Result, Threads};
use std::path::Path;

/// Says that `data` is regression data, before training.
pub fn announcement(data: &Dataset) -> String {
    format!(
        "{} sequences with numeric targets: training a regressor (MSE on standardised targets; RMSE and MAE reported)",
        data.items.len()
    )
}

/// Prints a regression report.
pub fn print_report(r: &RegressionReport) -> Result<()> {
    outln!(
        "RMSE {:.6}  MAE {:.6}  ({} sequences)",
        r.rmse,
        r.mae,
        r.count
    )?;
    outln!(
        "baseline (predicting the training mean {:.6}): RMSE {:.6}  MAE {:.6}",
        r.baseline_value,
        r.baseline_rmse,
        r.baseline_mae
    )
}

/// The training mean, from the model's target scaling.
fn training_mean(model: &Classifier) -> Result<f64> {
    model
        .config()
        .target
        .map(|t| t.mean)
        .ok_or_else(|| Error::Input("the model is a classifier, not a regressor".into()))
}

/// Scores `model` on `data`, which must carry targets (`path` names it in errors), beside the
/// constant prediction `baseline` (by default the model's training mean).
fn score(
    model: &Classifier,
    threads: &Threads,
    data: &Dataset,
    path: &Path,
    baseline: Option<f64>,
) -> Result<RegressionReport> {
    if !data.is_regression() {
        return Err(Error::format(
            path,
            "holds class labels, but the model is a regressor (it needs numeric targets: @targetlabel true, a 'target' column or field)",
        ));
    }
    let predicted = predict_values(model, threads, data, 64)?;
    let baseline = match baseline {
        Some(b) => b,
        None => training_mean(model)?,
    };
    regression_report(&data.targets, &predicted, baseline)
}

/// After training: scores the kept model on `test` beside the mean of all of `train`'s
/// targets, saves the checkpoint, `report.json`, `metrics.jsonl` and `loss.svg` into `out`,
/// and prints the report.
pub fn finish_run(
    trained: &Trained,
    train: &Dataset,
    test: &Dataset,
    test_name: &str,
    threads: &Threads,
    out: &mut RunDir,
) -> Result<()> {
    let mean = recur::classify::regress::TargetScaling::fit(&train.targets).mean;
    let r = score(
        &trained.model,
        threads,
        test,
        Path::new(test_name),
        Some(mean),
    )?;
    out.save(|tmp| {
        trained.checkpoint().write(tmp)?;
        let rj = serde_json::to_string_pretty(&r).expect("report serialises");
        write_atomically(&tmp.join("report.json"), format!("{rj}\n").as_bytes())?;
        let s = &trained.summary;
        write_atomically(&tmp.join("metrics.jsonl"), s.metrics_jsonl().as_bytes())?;
        let chart = s.loss_chart("Regressor: loss", "MSE (standardised targets)");
        write_atomically(&tmp.join("loss.svg"), chart.to_svg()?.as_bytes())
    })?;
    errln!(
        "{}",
        crate::progress::loop_summary(&trained.summary, "RMSE")
    );
    outln!("test ({test_name}):")?;
    print_report(&r)
}

/// `recur classify eval` of a regressor.
pub fn eval(
    model: &Classifier,
    threads: &Threads,
    data: &Dataset,
    path: &Path,
    json: bool,
) -> Result<()> {
    let r = score(model, threads, data, path, None)?;
    if json {
        outln!("{}", serde_json::to_string(&r).expect("report serialises"))
    } else {
        print_report(&r)
    }
}

/// `recur classify predict` of a regressor: `index,value` rows (CSV) or a JSON array of
/// `{"index", "value"}`.
pub fn predict(model: &Classifier, threads: &Threads, data: &Dataset, output: &Path) -> Result<()> {
    let values = predict_values(model, threads, data, 64)?;
    let text = if output.extension().and_then(|e| e.to_str()) == Some("json") {
        let rows: Vec<serde_json::Value> = values
            .iter()
            .enumerate()
            .map(|(i, v)| serde_json::json!({"index": i, "value": v}))
            .collect();
        format!("{}\n", serde_json::Value::Array(rows))
    } else {
        let mut s = String::from("index,value\n");
        for (i, v) in values.iter().enumerate() {
            s += &format!("{i},{v}\n");
        }
        s
    };
    write_atomically(output, text.as_bytes())?;
    errln!(
        "{} predictions written to {}",
        values.len(),
        output.display()
    );
    Ok(())
}
