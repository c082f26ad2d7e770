//! `recur classify train --folds K`: K-fold cross-validation for data sets without a test
//! split; one line per fold, the mean and standard deviation of the accuracy, and
//! `cv_report.json` in the output directory.

use recur::classify::data::Dataset;
use recur::classify::folds::cross_validate;
use recur::classify::train::ClassifySettings;
use recur::io::write_atomically;
use recur::rundir::RunDir;
use recur::{Result, Threads};
use std::process::ExitCode;

/// Cross-validates `settings` on `data` with `k` folds and writes the report into `out`.
pub fn run(
    data: &Dataset,
    settings: &ClassifySettings,
    k: usize,
    threads: &Threads,
    out: &mut RunDir,
    quiet: bool,
) -> Result<ExitCode> {
    let mut lines = crate::progress::LoopLines::new(true, "accuracy");
    crate::catch_ctrl_c();
    let flag = std::sync::atomic::AtomicBool::new(false);
    let mut observer = crate::progress::Stopping::new(&mut lines, &flag, None);
    let mut on_fold = |f: usize, r: &recur::classify::folds::FoldResult| {
        if !quiet {
            errln!(
                "fold {}/{k}: accuracy {:.4}, macro-F1 {:.4} ({} sequences; {} steps, {:.0} s)",
                f + 1,
                r.accuracy,
                r.macro_f1,
                r.test_count,
                r.steps,
                r.seconds
            );
        }
    };
    let cv = cross_validate(
        data,
        settings,
        k,
        threads,
        &mut observer,
        &flag,
        &mut on_fold,
    )?;
    let json = serde_json::json!({"cross_validation": cv, "training": settings});
    out.save(|tmp| {
        let text = serde_json::to_string_pretty(&json).expect("report serialises");
        write_atomically(&tmp.join("cv_report.json"), format!("{text}\n").as_bytes())
    })?;
    outln!(
        "{k}-fold cross-validation: accuracy {:.4} ± {:.4} (mean ± sd over folds), macro-F1 {:.4}",
        cv.mean_accuracy,
        cv.sd_accuracy,
        cv.mean_macro_f1
    )?;
    let per: Vec<String> = cv
        .folds
        .iter()
        .map(|f| format!("{:.4}", f.accuracy))
        .collect();
    outln!("per fold: {}", per.join(" "))?;
    errln!("report in {}", out.path().display());
    Ok(crate::finished())
}
