//! The labels of an imported set: hard class indices, soft-label rows, or learned logits
//! (DATM), checked against the data set's classes; hard labels follow from soft ones (argmax),
//! and a file without labels is in class order (MTT: IPC images of class 0, then class 1, …).

use crate::config::LabelKind;
use crate::read::Stored;
use ddbench_plugin_api::PluginResult;
use tch::{Kind, Tensor};

/// Hard labels `[N]`, optional soft labels `[N, classes]`, and a line saying what was read.
pub struct Labels {
    pub hard: Tensor,
    pub soft: Option<Tensor>,
    pub said: String,
}

fn finite(t: &Tensor) -> bool {
    bool::try_from(t.to_kind(Kind::Double).isfinite().all()).unwrap_or(false)
}

fn probability_rows(t: &Tensor) -> bool {
    let row_err = (t.sum_dim_intlist(-1, false, Kind::Double) - 1.0)
        .abs()
        .max();
    t.min().double_value(&[]) >= 0.0 && row_err.double_value(&[]) < 1e-3
}

/// A float `[N, classes]` tensor as soft labels, by `kind`.
fn soft_of(t: &Tensor, kind: LabelKind, from: &str) -> PluginResult<(Tensor, &'static str)> {
    let t = t.to_kind(Kind::Float);
    let probs = probability_rows(&t);
    match kind {
        LabelKind::Hard => Err(format!("{from}: float scores [N, C], but config 'labels' = \"hard\"").into()),
        LabelKind::Soft if !probs => Err(format!(
            "{from}: config 'labels' = \"soft\", but the rows are not probabilities (non-negative, summing to 1); learned logits are \"learned\""
        )
        .into()),
        LabelKind::Soft => Ok((t, "soft labels")),
        LabelKind::Auto if probs => Ok((t, "soft labels")),
        _ => Ok((t.softmax(-1, Kind::Float), "learned logits → softmax")),
    }
}

/// The set's labels, checked against `n` images and `classes`.
pub fn labels(stored: &Stored, kind: LabelKind, n: i64, classes: i64) -> PluginResult<Labels> {
    let from = stored.labels_from.as_str();
    let Some(l) = &stored.labels else {
        if n % classes != 0 {
            return Err(format!(
                "{}: no labels, and {n} images are not IPC images for each of {classes} classes",
                stored.images_from
            )
            .into());
        }
        let per = n / classes;
        let hard = Tensor::arange(n, (Kind::Int64, tch::Device::Cpu)).floor_divide_scalar(per);
        return Ok(Labels {
            hard,
            soft: None,
            said: format!("no labels stored: class order, {per} per class"),
        });
    };
    let l = l.to_device(tch::Device::Cpu);
    if !finite(&l) {
        return Err(format!("{from}: labels with NaN or infinite values").into());
    }
    let size = l.size();
    let (hard, soft, what) = match size.as_slice() {
        [m] if *m == n && !l.is_floating_point() => (l.to_kind(Kind::Int64), None, "hard labels"),
        // class indices saved as floats (NumPy users do): whole numbers only
        [m] if *m == n && l.equal(&l.round()) => {
            (l.to_kind(Kind::Int64), None, "hard labels (stored as floats)")
        }
        [m, c] if *m == n && *c == classes && l.is_floating_point() => {
            let (s, what) = soft_of(&l, kind, from)?;
            (s.argmax(-1, false), Some(s), what)
        }
        _ => {
            return Err(format!(
                "{from}: labels of shape {size:?} ({:?}); expected [{n}] class indices or [{n}, {classes}] scores for {n} images of a {classes}-class data set",
                l.kind()
            )
            .into())
        }
    };
    if soft.is_none() && matches!(kind, LabelKind::Soft | LabelKind::Learned) {
        return Err(format!("{from}: class indices, but config 'labels' asks for scores").into());
    }
    let (lo, hi) = (hard.min().int64_value(&[]), hard.max().int64_value(&[]));
    if lo < 0 || hi >= classes {
        return Err(format!(
            "{from}: labels in {lo}..={hi}; the data set has classes 0..{}",
            classes - 1
        )
        .into());
    }
    let soft = match (&stored.soft, soft) {
        (Some(s), _) => {
            let s = s.to_device(tch::Device::Cpu).to_kind(Kind::Float);
            if s.size() != [n, classes] || !finite(&s) || !probability_rows(&s) {
                return Err(format!(
                    "{}: soft labels of shape {:?}; expected probability rows [{n}, {classes}]",
                    stored.images_from,
                    s.size()
                )
                .into());
            }
            Some(s)
        }
        (None, s) => s,
    };
    Ok(Labels {
        hard,
        soft,
        said: what.into(),
    })
}
