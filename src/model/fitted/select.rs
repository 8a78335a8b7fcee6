//! `--components auto`: the number of mixture components chosen by the held-out
//! log-likelihood of a tenth of the training codes. On the colour digits this picks what
//! the samples' Frechet distance picks (notebooks-export/RESULTS.md, "An ex-post prior for
//! the samples"):
//! too many components fit each code's neighbourhood, not where codes fall.
use super::gmm::{EmSettings, Gmm};
use anyhow::Result;
use tch::{Kind, Tensor};

/// The counts tried, in order (roughly Fibonacci: each a step of similar relative size).
/// A flat model's 20 values on 18,000 sprites still gain at 89 components, and its samples
/// with them (notebooks-export/RESULTS.md, "Sprites drawn as sprites").
pub const CANDIDATES: [usize; 10] = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89];
/// Codes held out to judge the candidates: one in this many.
const HELD_OUT: i64 = 10;
/// The search stops after this many counts in a row below the best.
const PATIENCE: usize = 2;

/// One candidate's held-out mean log-likelihood (nats a code).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tried {
    pub components: usize,
    pub held_out_log_likelihood: f64,
}

/// The count with the best held-out log-likelihood, and every count tried, none above
/// `most` (what the memory holds). `y` `[n, k]`; `em` gives the EM settings of a count.
/// Fewer than 20 codes: one component, untried.
pub fn components(
    y: &Tensor,
    em: &dyn Fn(usize) -> EmSettings,
    most: usize,
) -> Result<(usize, Vec<Tried>)> {
    let n = y.size()[0];
    if n < 2 * HELD_OUT {
        return Ok((1, Vec::new()));
    }
    let order = Tensor::randperm(n, (Kind::Int64, y.device()));
    let held = n / HELD_OUT;
    let (test, train) = (
        y.index_select(0, &order.narrow(0, 0, held)),
        y.index_select(0, &order.narrow(0, held, n - held)),
    );
    let mut tried: Vec<Tried> = Vec::new();
    let mut best = 0;
    for c in CANDIDATES
        .into_iter()
        .filter(|&c| c <= most.max(1) && c as i64 <= n - held)
    {
        let gmm = Gmm::fit(&train, &em(c))?.gmm;
        let ll = gmm.log_prob(&test).mean(Kind::Double).double_value(&[]);
        tried.push(Tried {
            components: c,
            held_out_log_likelihood: ll,
        });
        if ll > tried[best].held_out_log_likelihood {
            best = tried.len() - 1;
        }
        if tried.len() - 1 - best >= PATIENCE {
            break;
        }
    }
    Ok((tried[best].components, tried))
}
